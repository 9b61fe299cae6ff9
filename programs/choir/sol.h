/*
 * sol.h: the small slice of the Solana runtime ABI the Choir program uses (SPEC section 9).
 *
 * Why our own header: the program is built with Debian's clang for `-target bpfel -mcpu=v1` and linked by
 * programs/toolchain/link.py, without Solana's platform tools or SDK. Everything here is either a fixed-width
 * type, a syscall declaration (an undefined symbol the linker turns into an R_BPF_64_32 dynamic relocation), or
 * a C-ABI struct the runtime reads during a cross-program invocation. Only syscalls verified on this machine are
 * declared.
 */
#ifndef CHOIR_SOL_H
#define CHOIR_SOL_H

typedef unsigned char uint8_t;
typedef unsigned short uint16_t;
typedef unsigned int uint32_t;
typedef unsigned long long uint64_t;
typedef signed char int8_t;
typedef int int32_t;
typedef long long int64_t;
typedef _Bool bool;
#define true 1
#define false 0
#define NULL ((void *)0)
#define INT64_MAX 0x7fffffffffffffffLL
#define INT64_MIN (-INT64_MAX - 1)
#define UINT64_MAX 0xffffffffffffffffULL

#define offsetof(type, field) __builtin_offsetof(type, field)
#define STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
/* An array's element count, so a count passed with an array (a PDA's signer seeds) is never written twice. */
#define ARRAY_LEN(array) (sizeof(array) / sizeof((array)[0]))

typedef struct {
    uint8_t x[32];
} SolPubkey;

/* Syscalls (resolved by the loader from the murmur3 hash of the name). */
void sol_log_(const char *message, uint64_t len);
void sol_log_64_(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e);
void sol_log_pubkey(const SolPubkey *key);

typedef struct {
    const uint8_t *addr;
    uint64_t len;
} SolSignerSeed;

typedef struct {
    const SolSignerSeed *addr;
    uint64_t len;
} SolSignerSeeds;

uint64_t sol_create_program_address(const SolSignerSeed *seeds, int seeds_len, const SolPubkey *program_id,
                                    SolPubkey *address);

typedef struct {
    SolPubkey *pubkey;
    bool is_writable;
    bool is_signer;
} SolAccountMeta;

typedef struct {
    SolPubkey *program_id;
    SolAccountMeta *accounts;
    uint64_t account_len;
    uint8_t *data;
    uint64_t data_len;
} SolInstruction;

typedef struct {
    SolPubkey *key;
    uint64_t *lamports;
    uint64_t data_len;
    uint8_t *data;
    SolPubkey *owner;
    uint64_t rent_epoch;
    bool is_signer;
    bool is_writable;
    bool executable;
} SolAccountInfo;

uint64_t sol_invoke_signed_c(const SolInstruction *instruction, const SolAccountInfo *account_infos,
                             int account_infos_len, const SolSignerSeeds *signers_seeds, int signers_seeds_len);

typedef struct {
    uint64_t slot;
    int64_t epoch_start_timestamp;
    uint64_t epoch;
    uint64_t leader_schedule_epoch;
    int64_t unix_timestamp;
} SolClock;

uint64_t sol_get_clock_sysvar(SolClock *clock);

#define sol_log(literal) sol_log_((literal), sizeof(literal) - 1)

/* 32-byte keys are compared and copied as four 64-bit words: every key the program touches lives at an
 * 8-byte-aligned offset (the runtime's input layout and our account layouts guarantee it). */
static inline bool key_eq(const void *a, const void *b) {
    const uint64_t *x = (const uint64_t *)a;
    const uint64_t *y = (const uint64_t *)b;
    return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3])) == 0;
}

static inline void key_copy(void *dst, const void *src) {
    uint64_t *d = (uint64_t *)dst;
    const uint64_t *s = (const uint64_t *)src;
    d[0] = s[0];
    d[1] = s[1];
    d[2] = s[2];
    d[3] = s[3];
}

#endif
