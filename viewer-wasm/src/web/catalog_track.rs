//! Reads the broadcast's `catalog.json` track: jumps to the newest group, applies its snapshot
//! and patches, and yields each new catalog (or why it could not be read).

use std::task::Poll;

use moq_net::{group, kio, track};

use crate::catalog::{Catalog, CatalogError};
use crate::snapshot::Snapshot;

pub struct CatalogTrack {
    track: track::Ordered,
    group: Option<group::Consumer>,
    snapshot: Snapshot,
}

impl CatalogTrack {
    pub fn new(track: track::Subscriber) -> Self {
        Self {
            track: track.ordered(),
            group: None,
            snapshot: Snapshot::default(),
        }
    }

    /// The next catalog; `Ok(None)` once the track ends, `Err` if the track fails.
    pub async fn next(&mut self) -> Result<Option<Result<Catalog, CatalogError>>, moq_net::Error> {
        kio::wait(|waiter| self.poll_next(waiter)).await
    }

    fn poll_next(
        &mut self,
        waiter: &kio::Waiter,
    ) -> Poll<Result<Option<Result<Catalog, CatalogError>>, moq_net::Error>> {
        // Only the newest group matters: each one starts with a full snapshot.
        let finished = loop {
            match self.track.poll_next_group(waiter) {
                Poll::Ready(Ok(Some(group))) => self.group = Some(group),
                Poll::Ready(Ok(None)) => break true,
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Pending => break false,
            }
        };

        let mut changed = None;
        while let Some(group) = &mut self.group {
            let first_in_group = group.index() == 0;
            match group.poll_read_frame(waiter) {
                Poll::Ready(Ok(Some(frame))) => {
                    changed = Some(self.snapshot.apply(first_in_group, &frame.payload));
                    if matches!(changed, Some(Err(_))) {
                        // The rest of this group patches a value we no longer have.
                        self.group = None;
                    }
                }
                // Exhausted, or superseded by a newer group (`Old`): wait for the next one.
                Poll::Ready(Ok(None) | Err(_)) => self.group = None,
                Poll::Pending => break,
            }
        }

        match changed {
            Some(Ok(())) => match self.snapshot.catalog() {
                Some(catalog) => Poll::Ready(Ok(Some(catalog))),
                None => Poll::Pending,
            },
            Some(Err(err)) => Poll::Ready(Ok(Some(Err(err)))),
            None if finished && self.group.is_none() => Poll::Ready(Ok(None)),
            None => Poll::Pending,
        }
    }
}
