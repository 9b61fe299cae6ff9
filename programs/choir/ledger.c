/*
 * ledger.c: lookups shared by the processors: the singleton accounts, threads and messages with their
 * "absent means unknown" rule, members authenticated by their stored owner, and deadline arithmetic.
 */
#include "processor.h"

int64_t find_key(const SolPubkey *keys, uint64_t count, const SolPubkey *key) {
    for (uint64_t i = 0; i < count; i++) {
        if (key_eq(&keys[i], key)) return (int64_t)i;
    }
    return -1;
}

uint64_t load_config(const Context *ctx, Account *a, Config **out) {
    return load(ctx, a, DISC_CONFIG, sizeof(Config), (void **)out);
}

uint64_t load_treasury(const Context *ctx, Account *a, Treasury **out) {
    TRY(check_writable(a));
    return load(ctx, a, DISC_TREASURY, sizeof(Treasury), (void **)out);
}

/* A thread account that does not exist (system-owned, empty) is SPEC's UnknownThread. */
uint64_t load_thread(const Context *ctx, Account *a, Thread **out) {
    TRY(check_writable(a));
    TRY(load_optional(ctx, a, DISC_THREAD, sizeof(Thread), (void **)out));
    return *out == NULL ? ERR_UNKNOWN_THREAD : OK;
}

/* A message account that does not exist is UnknownMessage; one of another thread is a spoof. */
uint64_t load_message(const Context *ctx, Account *a, const Account *thread_account, Message **out) {
    TRY(check_writable(a));
    TRY(load_optional(ctx, a, DISC_MESSAGE, sizeof(Message), (void **)out));
    if (*out == NULL) return ERR_UNKNOWN_MESSAGE;
    return key_eq(&(*out)->thread, &thread_account->key) ? OK : ERR_CONSTRAINT_HAS_ONE;
}

/* A member (wallet) of `owner`. With `optional`, an absent account reads as NULL (a zero balance). */
uint64_t load_member(const Context *ctx, Account *a, const SolPubkey *owner, bool optional, Member **out) {
    TRY(check_writable(a));
    if (optional) {
        TRY(load_optional(ctx, a, DISC_MEMBER, sizeof(Member), (void **)out));
        if (*out == NULL) return OK;
    } else {
        TRY(load(ctx, a, DISC_MEMBER, sizeof(Member), (void **)out));
    }
    return key_eq(&(*out)->owner, owner) ? OK : ERR_CONSTRAINT_HAS_ONE;
}

uint64_t deadline_after(int64_t now, int64_t window, int64_t *out) {
    if (__builtin_add_overflow(now, window, out)) return ERR_ARITHMETIC_OVERFLOW;
    return OK;
}
