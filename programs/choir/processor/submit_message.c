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
    TRY(check_signer(payer));
    TRY(check_signer(author));
    TRY(check_writable(message_acc));
    SubmitArgs args;
    TRY(parse_submit_message(ctx->data + 8, ctx->data_len - 8, &args));

    Thread *thread;
    TRY(load_thread(ctx, thread_acc, &thread));
    if (find_key(thread->co_authors, thread->co_author_count, &author->key) < 0) return ERR_NOT_CO_AUTHOR;
    Message *existing;
    TRY(load_optional(ctx, message_acc, DISC_MESSAGE, sizeof(Message), (void **)&existing));
    if (existing != NULL) {
        bool same = key_eq(&existing->thread, &thread_acc->key) && key_eq(existing->content_hash, args.content_hash);
        return same ? ERR_DUPLICATE_CONTENT : ERR_CONSTRAINT_SEEDS;
    }
    uint8_t bump = args.bump;
    SolSignerSeed seeds[4] = {{(const uint8_t *)SEED_MESSAGE, sizeof(SEED_MESSAGE) - 1},
                              {thread_acc->key.x, 32},
                              {args.content_hash, 32},
                              {&bump, 1}};
    TRY(verify_pda(ctx, &message_acc->key, seeds, 4, &bump));
    uint64_t count;
    ADD(count, thread->message_count, 1);

    int64_t now = clock_now();
    Creation message_acc_creation = {payer, message_acc, system, seeds, 4};
    TRY(create_pda(ctx, &message_acc_creation, sizeof(Message)));
    Message *message = (Message *)message_acc->data;
    message->discriminator = DISC_MESSAGE;
    message->stake = 0;
    message->created_at = now;
    message->deadline = 0;
    key_copy(&message->thread, &thread_acc->key);
    key_copy(message->content_hash, args.content_hash);
    key_copy(&message->author, &author->key);
    message->state = STATE_PRIVATE;
    message->privacy = args.privacy;
    message->is_spec = false;
    message->has_deadline = false;
    message->bump = bump;
    thread->message_count = count;
    thread->updated_at = now;
    return OK;
}
