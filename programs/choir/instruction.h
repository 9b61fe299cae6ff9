/*
 * instruction.h: instruction discriminators and argument parsing (SPEC section 9).
 *
 * Instruction data is Anchor's: sha256("global:<name>")[:8], then the arguments in Borsh (little-endian
 * integers, `bool` as one byte 0/1, enums as a one-byte tag, `string` and `vec` as a u32 length and the items).
 * Parsing is strict: a short or over-long buffer, a bool other than 0/1, an unknown enum tag or a thread id that
 * is not UTF-8 is InstructionDidNotDeserialize. Semantic limits (thread id length, amounts) are the processors'
 * guards, so they report the SPEC's errors in the SPEC's order.
 */
#ifndef CHOIR_INSTRUCTION_H
#define CHOIR_INSTRUCTION_H

#include "errors.h"
#include "sol.h"

#define IX_INITIALIZE 0xed9b980d1f6dafafULL
#define IX_OPEN_MEMBER 0x78c74d730721a416ULL
#define IX_FUND_MEMBER 0xeea21894fccf9ceaULL
#define IX_CREATE_THREAD 0x1acc21850340dfb6ULL
#define IX_SUBMIT_MESSAGE 0x5cbceb36c2bc0c5cULL
#define IX_REQUEST_PUBLIC 0xa10e66a1e4f29b83ULL
#define IX_SUBMIT_SPEC 0xe8e45e4b2b0c9c86ULL
#define IX_PROCESS_APPROVAL 0x9e775b39c80b854dULL
#define IX_EXPIRE_APPROVAL 0xbd5e27e393a99d8eULL
#define IX_DIVEST_TOKENS 0x6c5802953f4ddbcbULL

typedef struct {
    const uint8_t *p;
    uint64_t left;
} Reader;

void reader_init(Reader *r, const uint8_t *data, uint64_t len);
uint64_t read_u8(Reader *r, uint8_t *out);
uint64_t read_bool(Reader *r, bool *out);
uint64_t read_u32(Reader *r, uint32_t *out);
uint64_t read_u64(Reader *r, uint64_t *out);
uint64_t read_i64(Reader *r, int64_t *out);
uint64_t read_bytes(Reader *r, uint64_t n, const uint8_t **out);
uint64_t read_end(const Reader *r);
bool utf8_valid(const uint8_t *s, uint64_t n);

typedef struct {
    uint64_t total_supply;
    uint64_t min_stake;
    uint64_t min_thread_balance;
    int64_t approval_window;
    int64_t divest_cooldown;
    uint64_t max_pending;
    uint8_t max_coauthors;
    uint8_t thread_id_max;
    uint8_t decimals;
    uint8_t threshold;
    uint8_t config_bump;
    uint8_t treasury_bump;
    uint32_t authority_count;
    const uint8_t *authorities; /* authority_count keys, unaligned */
} InitializeArgs;

typedef struct {
    const uint8_t *thread_id;
    uint32_t thread_id_len;
    uint8_t bump;
    uint64_t deposit;
} CreateThreadArgs;

typedef struct {
    const uint8_t *content_hash;
    uint64_t stake; /* submit_spec only */
    uint8_t privacy;
    uint8_t bump;
} SubmitArgs;

uint64_t parse_initialize(const uint8_t *data, uint64_t len, InitializeArgs *out);
uint64_t parse_bump(const uint8_t *data, uint64_t len, uint8_t *bump);
uint64_t parse_amount(const uint8_t *data, uint64_t len, uint64_t *amount);
uint64_t parse_create_thread(const uint8_t *data, uint64_t len, CreateThreadArgs *out);
uint64_t parse_submit_message(const uint8_t *data, uint64_t len, SubmitArgs *out);
uint64_t parse_submit_spec(const uint8_t *data, uint64_t len, SubmitArgs *out);
uint64_t parse_process_approval(const uint8_t *data, uint64_t len, bool *approve);
uint64_t parse_empty(const uint8_t *data, uint64_t len);

#endif
