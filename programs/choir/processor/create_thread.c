/*
 * create_thread: a funded user opens a thread with a deposit (SPEC section 3).
 *
 * Accounts: payer (writable, signer), creator (signer), config, member (writable; the creator's wallet, may be
 * absent = zero balance), thread (writable, PDA ["thread", thread_id]), system_program.
 * Args: thread_id (string), deposit, bump.
 * Guards: InvalidThreadId, ThreadExists, BelowMinimumBalance, InsufficientFunds.
 */
#include "../instruction.h"
#include "../processor.h"

uint64_t process_create_thread(Context *ctx) {
    TRY(need_accounts(ctx, 6));
    Account *payer = ctx->accounts[0], *creator = ctx->accounts[1], *member_acc = ctx->accounts[3];
    Account *thread_acc = ctx->accounts[4], *system = ctx->accounts[5];
    TRY(check_signer(creator));
    Config *config;
    TRY(load_config(ctx, ctx->accounts[2], &config));
    Member *member;
    TRY(load_member(ctx, member_acc, &creator->key, true, &member));
    CreateThreadArgs args;
    TRY(parse_create_thread(ctx->data + 8, ctx->data_len - 8, &args));

    if (args.thread_id_len == 0 || args.thread_id_len > config->thread_id_max ||
        args.thread_id_len > THREAD_ID_LAYOUT)
        return ERR_INVALID_THREAD_ID;
    uint8_t bump = args.bump;
    SolSignerSeed seeds[3] = {
        {(const uint8_t *)SEED_THREAD, sizeof(SEED_THREAD) - 1}, {args.thread_id, args.thread_id_len}, {&bump, 1}};
    /* The address first (an Anchor `seeds` constraint): an account at the canonical PDA of this id is this id's
     * thread, so it needs no comparison of ids. */
    TRY(verify_pda(ctx, &thread_acc->key, seeds, ARRAY_LEN(seeds), &bump));
    Thread *existing;
    TRY(load_optional(ctx, thread_acc, DISC_THREAD, sizeof(Thread), (void **)&existing));
    if (existing != NULL) return ERR_THREAD_EXISTS;
    if (args.deposit < config->min_thread_balance) return ERR_BELOW_MINIMUM_BALANCE;
    uint64_t held = member == NULL ? 0 : member->balance;
    if (held < args.deposit) return ERR_INSUFFICIENT_FUNDS;

    int64_t now = clock_now();
    Creation thread_acc_creation = {payer, thread_acc, system, seeds, ARRAY_LEN(seeds)};
    TRY(create_pda(ctx, &thread_acc_creation, sizeof(Thread)));
    member->balance = held - args.deposit;
    Thread *thread = (Thread *)thread_acc->data;
    thread->discriminator = DISC_THREAD;
    thread->balance = args.deposit;
    thread->created_at = now;
    thread->updated_at = now;
    thread->message_count = 0;
    thread->pending = 0;
    thread->co_author_count = 1;
    thread->spec_author_count = 0;
    thread->thread_id_len = (uint8_t)args.thread_id_len;
    thread->bump = bump;
    for (uint32_t i = 0; i < args.thread_id_len; i++) thread->thread_id[i] = args.thread_id[i];
    key_copy(&thread->co_authors[0], &creator->key);
    thread->divested = 0;
    return OK;
}
