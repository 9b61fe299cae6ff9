/*
 * process_approval: a voter of the snapshot approves or denies a Pending message before its deadline; the last
 * vote settles it in the same instruction (SPEC sections 3 and 4).
 *
 * Accounts: voter (signer), treasury (writable), thread (writable), message (writable), then, when this vote
 * settles a staked spec unanimously, every voter's wallet (member, writable) in snapshot order. Clients may
 * always pass them; they are read only when paid. Args: approve (bool).
 * Guards: UnknownThread, UnknownMessage, StateConflict, ApprovalTimeout, NotAVoter, AlreadyVoted.
 */
#include "../instruction.h"
#include "../processor.h"

#define FIRST_MEMBER 4

uint64_t process_process_approval(Context *ctx) {
    TRY(need_accounts(ctx, 4));
    Account *voter = ctx->accounts[0], *thread_acc = ctx->accounts[2], *message_acc = ctx->accounts[3];
    TRY(check_signer(voter));
    Treasury *treasury;
    TRY(load_treasury(ctx, ctx->accounts[1], &treasury));
    bool approve;
    TRY(parse_process_approval(ctx->data + 8, ctx->data_len - 8, &approve));

    Thread *thread;
    Message *message;
    TRY(load_thread_message(ctx, thread_acc, message_acc, &thread, &message));
    if (message->state != STATE_PENDING) return ERR_STATE_CONFLICT;
    int64_t now = clock_now();
    if (now >= message->deadline) return ERR_APPROVAL_TIMEOUT;
    uint64_t n = message->voter_count;
    int64_t i = find_key(message->voters, n, &voter->key);
    if (i < 0) return ERR_NOT_A_VOTER;
    if (message->votes[i] != VOTE_NONE) return ERR_ALREADY_VOTED;

    message->votes[i] = approve ? VOTE_APPROVE : VOTE_DENY;
    message->vote_count += 1;
    thread->updated_at = now;
    if (message->vote_count < n) return OK;
    uint64_t approvals = 0;
    for (uint64_t k = 0; k < n; k++) approvals += message->votes[k] == VOTE_APPROVE;
    uint64_t outcome = approvals == n ? OUTCOME_APPROVED : approvals == 0 ? OUTCOME_DENIED : OUTCOME_MIXED;
    Settlement s = {thread, message, treasury, outcome, FIRST_MEMBER};
    return close_message(ctx, &s);
}
