/*
 * request_public: the author of a Private message asks the other co-authors to make it public; no stake
 * (SPEC section 3). With no other co-author the vote is unanimous at once and the message is Public.
 *
 * Accounts: author (signer), config, thread (writable), message (writable). No args.
 * Guards: UnknownThread, UnknownMessage, StateConflict, NotCoAuthor, ThreadFull.
 */
#include "../instruction.h"
#include "../processor.h"

uint64_t process_request_public(Context *ctx) {
    TRY(need_accounts(ctx, 4));
    Account *author = ctx->accounts[0], *thread_acc = ctx->accounts[2], *message_acc = ctx->accounts[3];
    TRY(check_signer(author));
    Config *config;
    TRY(load_config(ctx, ctx->accounts[1], &config));
    TRY(parse_empty(ctx->data + 8, ctx->data_len - 8));

    Thread *thread;
    Message *message;
    TRY(load_thread_message(ctx, thread_acc, message_acc, &thread, &message));
    if (message->state != STATE_PRIVATE) return ERR_STATE_CONFLICT;
    if (!key_eq(&message->author, &author->key) ||
        find_key(thread->co_authors, thread->co_author_count, &author->key) < 0)
        return ERR_NOT_CO_AUTHOR;
    if (thread->pending >= config->max_pending) return ERR_THREAD_FULL;

    int64_t now = clock_now();
    int64_t deadline;
    TRY(deadline_after(now, config->approval_window, &deadline));
    message->state = STATE_PENDING;
    message->deadline = deadline;
    message->has_deadline = true;
    uint64_t n = 0;
    for (uint64_t i = 0; i < thread->co_author_count; i++) {
        if (key_eq(&thread->co_authors[i], &author->key)) continue;
        key_copy(&message->voters[n], &thread->co_authors[i]);
        message->votes[n] = VOTE_NONE;
        n++;
    }
    message->voter_count = (uint8_t)n;
    message->vote_count = 0;
    if (thread->pending == 0xffffffffU) return ERR_ARITHMETIC_OVERFLOW;
    thread->pending += 1;
    thread->updated_at = now;
    if (n == 0) {
        Settlement s = {thread, message, NULL, OUTCOME_APPROVED, 0};
        return close_message(ctx, &s);
    }
    return OK;
}
