/*
 * submit_message: a co-author writes a message; it is Private (SPEC section 3).
 *
 * Accounts: payer (writable, signer), author (signer), thread (writable), message (writable, PDA ["message",
 * thread, content_hash]), system_program. Args: content_hash, privacy, bump.
 * Guards: UnknownThread, NotCoAuthor, DuplicateContent.
 */
#include "../instruction.h"
#include "../processor.h"

uint64_t process_submit_message(Context *ctx) {
    TRY(need_accounts(ctx, 5));
    Account *payer = ctx->accounts[0], *author = ctx->accounts[1], *thread_acc = ctx->accounts[2];
    Account *message_acc = ctx->accounts[3], *system = ctx->accounts[4];
    TRY(check_signer(author));
    SubmitArgs args;
    TRY(parse_submit_message(ctx->data + 8, ctx->data_len - 8, &args));

    Thread *thread;
    TRY(load_thread(ctx, thread_acc, &thread));
    if (find_key(thread->co_authors, thread->co_author_count, &author->key) < 0) return ERR_NOT_CO_AUTHOR;
    NewMessage new_message = {.payer = payer, .account = message_acc, .thread = thread_acc,
                              .system_program = system, .author = author, .args = &args};
    TRY(check_new_message(ctx, &new_message));
    uint64_t count;
    ADD(count, thread->message_count, 1);

    int64_t now = clock_now();
    Message *message;
    TRY(create_message(ctx, &new_message, now, &message));
    message->stake = 0;
    message->deadline = 0;
    message->state = STATE_PRIVATE;
    message->is_spec = false;
    message->has_deadline = false;
    thread->message_count = count;
    thread->updated_at = now;
    return OK;
}
