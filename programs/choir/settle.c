/*
 * settle.c: the `seeds` settlement policy (SPEC section 4), shared by process_approval (the last vote) and
 * expire_approval (the timeout).
 *
 *   all approve   Public; a spec's author joins co_authors; each approver's wallet gets S / A and the remainder
 *                 S % A goes to the treasury (all of S when S < A);
 *   all deny      Rejected; S goes to the thread balance;
 *   mixed         Rejected; S goes to the treasury;
 *   timeout       Expired; S goes to the treasury.
 *
 * Approvers' wallets are the instruction's accounts from `first_member` on, one per voter in snapshot order;
 * every one is checked before any balance moves.
 */
#include "processor.h"

static uint64_t credit(uint64_t *balance, uint64_t amount) {
    uint64_t sum;
    ADD(sum, *balance, amount);
    *balance = sum;
    return OK;
}

uint64_t close_message(Context *ctx, const Settlement *s) {
    Thread *thread = s->thread;
    Message *message = s->message;
    Treasury *treasury = s->treasury;
    uint64_t outcome = s->outcome, first_member = s->first_member;
    uint64_t stake = message->stake;
    uint64_t n = message->voter_count;
    if (stake != 0) {
        if (outcome == OUTCOME_APPROVED && n != 0) {
            /* Check every approver's wallet first (even when S < A and each share is 0), then pay. */
            TRY(need_accounts(ctx, first_member + n));
            for (uint64_t i = 0; i < n; i++) {
                Member *m;
                TRY(load_member(ctx, ctx->accounts[first_member + i], &message->voters[i], false, &m));
            }
            uint64_t share = stake / n;
            for (uint64_t i = 0; i < n; i++) {
                Member *m = (Member *)ctx->accounts[first_member + i]->data;
                TRY(credit(&m->balance, share));
            }
            TRY(credit(&treasury->balance, stake % n));
        } else if (outcome == OUTCOME_DENIED) {
            TRY(credit(&thread->balance, stake));
        } else {
            TRY(credit(&treasury->balance, stake));
        }
    }
    if (outcome == OUTCOME_APPROVED) {
        message->state = STATE_PUBLIC;
        if (message->is_spec) {
            uint64_t k = thread->co_author_count;
            if (k >= MAX_COAUTHORS_LAYOUT) return ERR_THREAD_FULL; /* unreachable: seats are reserved */
            key_copy(&thread->co_authors[k], &message->author);
            thread->co_author_count = (uint8_t)(k + 1);
        }
    } else {
        message->state = outcome == OUTCOME_EXPIRED ? STATE_EXPIRED : STATE_REJECTED;
    }
    message->stake = 0;
    if (thread->pending == 0) return ERR_ARITHMETIC_OVERFLOW;
    thread->pending -= 1;
    if (message->is_spec) {
        int64_t i = find_key(thread->spec_authors, thread->spec_author_count, &message->author);
        if (i >= 0) {
            uint64_t last = (uint64_t)thread->spec_author_count - 1;
            key_copy(&thread->spec_authors[i], &thread->spec_authors[last]);
            for (int b = 0; b < 4; b++) ((uint64_t *)&thread->spec_authors[last])[b] = 0;
            thread->spec_author_count = (uint8_t)last;
        }
    }
    return OK;
}
