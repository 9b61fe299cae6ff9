/*
 * submit_spec: someone who is not a co-author stakes tokens on a message; every co-author votes on it within
 * the approval window (SPEC section 3). The stake moves from the author's wallet into the message's escrow and a
 * co-author seat is reserved for the author while the spec is pending.
 *
 * Accounts: payer (writable, signer), author (signer), config, member (writable; the author's wallet, may be
 * absent = zero balance), thread (writable), message (writable, PDA ["message", thread, content_hash]),
 * system_program. Args: content_hash, stake, privacy, bump.
 * Guards: UnknownThread, AlreadyCoAuthor, DuplicateContent, StakeTooLow, InsufficientFunds, StateConflict (a
 * pending spec of this author already), ThreadFull (seats or pending messages).
 */
#include "../instruction.h"
#include "../processor.h"

uint64_t process_submit_spec(Context *ctx) {
    TRY(need_accounts(ctx, 7));
    Account *payer = ctx->accounts[0], *author = ctx->accounts[1], *member_acc = ctx->accounts[3];
    Account *thread_acc = ctx->accounts[4], *message_acc = ctx->accounts[5], *system = ctx->accounts[6];
    TRY(check_signer(author));
    Config *config;
    TRY(load_config(ctx, ctx->accounts[2], &config));
    Member *member;
    TRY(load_member(ctx, member_acc, &author->key, true, &member));
    SubmitArgs args;
    TRY(parse_submit_spec(ctx->data + 8, ctx->data_len - 8, &args));

    Thread *thread;
    TRY(load_thread(ctx, thread_acc, &thread));
    if (find_key(thread->co_authors, thread->co_author_count, &author->key) >= 0) return ERR_ALREADY_CO_AUTHOR;
    NewMessage new_message = {.payer = payer, .account = message_acc, .thread = thread_acc,
                              .system_program = system, .author = author, .args = &args};
    TRY(check_new_message(ctx, &new_message));
    if (args.stake < config->min_stake) return ERR_STAKE_TOO_LOW;
    uint64_t held = member == NULL ? 0 : member->balance;
    if (held < args.stake) return ERR_INSUFFICIENT_FUNDS;
    if (find_key(thread->spec_authors, thread->spec_author_count, &author->key) >= 0) return ERR_STATE_CONFLICT;
    uint64_t seats = (uint64_t)thread->co_author_count + thread->spec_author_count;
    if (seats >= config->max_coauthors || seats >= MAX_COAUTHORS_LAYOUT || thread->pending >= config->max_pending)
        return ERR_THREAD_FULL;
    if (thread->pending == 0xffffffffU) return ERR_ARITHMETIC_OVERFLOW;
    uint64_t count;
    ADD(count, thread->message_count, 1);
    int64_t now = clock_now();
    int64_t deadline;
    TRY(deadline_after(now, config->approval_window, &deadline));

    Message *message;
    TRY(create_message(ctx, &new_message, now, &message));
    member->balance = held - args.stake;
    message->stake = args.stake;
    message->deadline = deadline;
    message->state = STATE_PENDING;
    message->is_spec = true;
    message->has_deadline = true;
    for (uint64_t i = 0; i < thread->co_author_count; i++) key_copy(&message->voters[i], &thread->co_authors[i]);
    message->voter_count = thread->co_author_count;
    message->vote_count = 0;
    key_copy(&thread->spec_authors[thread->spec_author_count], &author->key);
    thread->spec_author_count += 1;
    thread->pending += 1;
    thread->message_count = count;
    thread->updated_at = now;
    return OK;
}
