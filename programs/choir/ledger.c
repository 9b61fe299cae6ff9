/*
 * ledger.c: lookups shared by the processors: the singleton accounts, threads and messages with their
 * "absent means unknown" rule, members authenticated by their stored owner, the address and identity of a new
 * message, and deadline arithmetic.
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
static uint64_t load_message(const Context *ctx, Account *a, const Account *thread_account, Message **out) {
    TRY(check_writable(a));
    TRY(load_optional(ctx, a, DISC_MESSAGE, sizeof(Message), (void **)out));
    if (*out == NULL) return ERR_UNKNOWN_MESSAGE;
    return key_eq(&(*out)->thread, &thread_account->key) ? OK : ERR_CONSTRAINT_HAS_ONE;
}

/* Every instruction that acts on an existing message (request_public, process_approval, expire_approval) opens
 * with the same two SPEC guards, UnknownThread then UnknownMessage, so they share this one lookup. */
uint64_t load_thread_message(const Context *ctx, Account *thread_account, Account *message_account, Thread **thread,
                             Message **message) {
    TRY(load_thread(ctx, thread_account, thread));
    return load_message(ctx, message_account, thread_account, message);
}

/* submit_message and submit_spec create a message the same way, so the content-hash lookup and the message's
 * identity live here once: the account must be the canonical PDA ["message", thread, content_hash] (anything
 * else is a forged address), so one already there is this thread's message of this hash: DuplicateContent. */
uint64_t check_new_message(const Context *ctx, NewMessage *m) {
    m->bump = m->args->bump;
    m->seeds[0] = (SolSignerSeed){(const uint8_t *)SEED_MESSAGE, sizeof(SEED_MESSAGE) - 1};
    m->seeds[1] = (SolSignerSeed){m->thread->key.x, 32};
    m->seeds[2] = (SolSignerSeed){m->args->content_hash, 32};
    m->seeds[3] = (SolSignerSeed){&m->bump, 1};
    TRY(verify_pda(ctx, &m->account->key, m->seeds, ARRAY_LEN(m->seeds), &m->bump));
    Message *existing;
    TRY(load_optional(ctx, m->account, DISC_MESSAGE, sizeof(Message), (void **)&existing));
    return existing != NULL ? ERR_DUPLICATE_CONTENT : OK;
}

/* Creates the account checked by check_new_message and writes the fields both submissions set alike: the seed
 * fields that authenticate the message from then on (thread, content_hash, with author and bump), its creation
 * time and privacy. The caller sets the rest (stake, deadline, state, is_spec, ...). */
uint64_t create_message(const Context *ctx, const NewMessage *m, int64_t now, Message **out) {
    Creation creation = {m->payer, m->account, m->system_program, m->seeds, ARRAY_LEN(m->seeds)};
    TRY(create_pda(ctx, &creation, sizeof(Message)));
    Message *message = (Message *)m->account->data;
    message->discriminator = DISC_MESSAGE;
    message->created_at = now;
    key_copy(&message->thread, &m->thread->key);
    key_copy(message->content_hash, m->args->content_hash);
    key_copy(&message->author, &m->author->key);
    message->privacy = m->args->privacy;
    message->bump = m->bump;
    *out = message;
    return OK;
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
