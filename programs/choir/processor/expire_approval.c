/*
 * expire_approval: anyone closes an approval window that has passed (a crank); the message is Expired and its
 * escrowed stake goes to the treasury (SPEC sections 3 and 4). Permissionless: no signer is needed.
 *
 * Accounts: treasury (writable), thread (writable), message (writable). No args.
 * Guards: UnknownThread, UnknownMessage, StateConflict (not Pending), StateConflict (deadline not reached).
 */
#include "../instruction.h"
#include "../processor.h"

uint64_t process_expire_approval(Context *ctx) {
    TRY(need_accounts(ctx, 3));
    Account *thread_acc = ctx->accounts[1], *message_acc = ctx->accounts[2];
    Treasury *treasury;
    TRY(load_treasury(ctx, ctx->accounts[0], &treasury));
    TRY(parse_empty(ctx->data + 8, ctx->data_len - 8));

    Thread *thread;
    Message *message;
    TRY(load_thread_message(ctx, thread_acc, message_acc, &thread, &message));
    if (message->state != STATE_PENDING) return ERR_STATE_CONFLICT;
    int64_t now = clock_now();
    if (now < message->deadline) return ERR_STATE_CONFLICT;
    thread->updated_at = now;
    Settlement s = {thread, message, treasury, OUTCOME_EXPIRED, 0};
    return close_message(ctx, &s);
}
