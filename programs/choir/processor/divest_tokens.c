/*
 * divest_tokens: a co-author withdraws at most an equal share of what exceeds the minimum thread balance, once
 * per cooldown (SPEC section 3, `divest`).
 *
 * Accounts: co_author (signer), config, member (writable; the co-author's wallet), thread (writable). The
 * wallet may be absent only for actors who are not co-authors (every co-author funded a deposit or a stake), so
 * the guards run first and an absent wallet of a co-author is refused afterwards.
 * Args: amount.
 * Guards: UnknownThread, NotCoAuthor, InvalidAmount, BelowMinimumBalance, CooldownActive.
 */
#include "../instruction.h"
#include "../processor.h"

uint64_t process_divest_tokens(Context *ctx) {
    TRY(need_accounts(ctx, 4));
    Account *co_author = ctx->accounts[0], *member_acc = ctx->accounts[2], *thread_acc = ctx->accounts[3];
    TRY(check_signer(co_author));
    Config *config;
    TRY(load_config(ctx, ctx->accounts[1], &config));
    Member *member;
    TRY(load_member(ctx, member_acc, &co_author->key, true, &member));
    uint64_t amount;
    TRY(parse_amount(ctx->data + 8, ctx->data_len - 8, &amount));

    Thread *thread;
    TRY(load_thread(ctx, thread_acc, &thread));
    int64_t i = find_key(thread->co_authors, thread->co_author_count, &co_author->key);
    if (i < 0) return ERR_NOT_CO_AUTHOR;
    if (amount == 0) return ERR_INVALID_AMOUNT;
    uint64_t excess;
    SUB(excess, thread->balance, config->min_thread_balance);
    if (amount > excess / thread->co_author_count) return ERR_BELOW_MINIMUM_BALANCE;
    int64_t now = clock_now();
    int64_t last = thread->last_divest[i];
    bool divested = (thread->divested >> i) & 1u;
    /* now < last + cooldown, without overflowing when last + cooldown exceeds i64 */
    if (divested && (last > INT64_MAX - config->divest_cooldown || now < last + config->divest_cooldown))
        return ERR_COOLDOWN_ACTIVE;
    if (member == NULL) return ERR_ACCOUNT_NOT_INITIALIZED;

    uint64_t credited;
    ADD(credited, member->balance, amount);
    thread->balance -= amount;
    member->balance = credited;
    thread->last_divest[i] = now;
    thread->divested |= 1u << i;
    thread->updated_at = now;
    return OK;
}
