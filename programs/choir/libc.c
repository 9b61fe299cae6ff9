/*
 * libc.c: the two C library functions clang may emit calls to (struct copies and zeroing) in a freestanding
 * build. The linker refuses undefined symbols that are not syscalls, so they are defined here; memcpy uses the
 * runtime's sol_memcpy_ syscall.
 */
#include "sol.h"

void *memcpy(void *dst, const void *src, uint64_t n) {
    sol_memcpy_(dst, src, n);
    return dst;
}

void *memset(void *dst, int value, uint64_t n) {
    uint8_t *d = (uint8_t *)dst;
    for (uint64_t i = 0; i < n; i++) d[i] = (uint8_t)value;
    return dst;
}
