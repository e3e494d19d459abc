/* A stand-in for bcryptprimitives.dll, which Wine 8 (Debian 12) lacks: Rust's standard library
 * (1.78+) takes its random numbers from ProcessPrng there. Built with mingw-w64 by
 * `cargo xtask wine` and put beside publisher.exe only for the Wine test; Windows has the real one. */
#include <windows.h>
#include <ntsecapi.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!RtlGenRandom(data, chunk)) return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
