/*
 * errors.h: every error the program returns (SPEC section 7).
 *
 * Choir's guard failures are Anchor custom errors, 6000 + index, in the SPEC's order, so any Anchor client maps
 * them through the IDL's `errors`. Malformed instructions and accounts (which no honest client sends) use Anchor's
 * framework codes, so standard tooling names them too; arithmetic overflow uses the runtime's builtin
 * ArithmeticOverflow. A returned value of 0 is success.
 */
#ifndef CHOIR_ERRORS_H
#define CHOIR_ERRORS_H

#include "sol.h"

#define OK 0ULL

/* Choir errors, SPEC section 7 (Anchor custom errors). */
#define ERR_INVALID_THREAD_ID 6000ULL
#define ERR_THREAD_EXISTS 6001ULL
#define ERR_UNKNOWN_THREAD 6002ULL
#define ERR_UNKNOWN_MESSAGE 6003ULL
#define ERR_NOT_CO_AUTHOR 6004ULL
#define ERR_ALREADY_CO_AUTHOR 6005ULL
#define ERR_DUPLICATE_CONTENT 6006ULL
#define ERR_STAKE_TOO_LOW 6007ULL
#define ERR_INSUFFICIENT_FUNDS 6008ULL
#define ERR_THREAD_FULL 6009ULL
#define ERR_STATE_CONFLICT 6010ULL
#define ERR_APPROVAL_TIMEOUT 6011ULL
#define ERR_NOT_A_VOTER 6012ULL
#define ERR_ALREADY_VOTED 6013ULL
#define ERR_INVALID_AMOUNT 6014ULL
#define ERR_BELOW_MINIMUM_BALANCE 6015ULL
#define ERR_COOLDOWN_ACTIVE 6016ULL
#define ERR_UNAUTHORIZED 6017ULL
#define ERR_INVALID_TIME 6018ULL
#define ERR_CONTENT_TOO_LARGE 6019ULL /* backend only */
#define ERR_TEMPERATURE_ERROR 6020ULL

/* Anchor framework errors for malformed input. */
#define ERR_INSTRUCTION_MISSING 100ULL
#define ERR_INSTRUCTION_FALLBACK_NOT_FOUND 101ULL
#define ERR_INSTRUCTION_DID_NOT_DESERIALIZE 102ULL
#define ERR_CONSTRAINT_MUT 2000ULL
#define ERR_CONSTRAINT_HAS_ONE 2001ULL
#define ERR_CONSTRAINT_SIGNER 2002ULL
#define ERR_CONSTRAINT_RAW 2003ULL /* a program account passed twice */
#define ERR_CONSTRAINT_SEEDS 2006ULL
#define ERR_CONSTRAINT_ADDRESS 2012ULL
#define ERR_ACCOUNT_DISCRIMINATOR_ALREADY_SET 3000ULL
#define ERR_ACCOUNT_DISCRIMINATOR_NOT_FOUND 3001ULL
#define ERR_ACCOUNT_DISCRIMINATOR_MISMATCH 3002ULL
#define ERR_ACCOUNT_DID_NOT_DESERIALIZE 3003ULL
#define ERR_ACCOUNT_NOT_ENOUGH_KEYS 3005ULL
#define ERR_ACCOUNT_NOT_MUTABLE 3006ULL
#define ERR_ACCOUNT_OWNED_BY_WRONG_PROGRAM 3007ULL
#define ERR_ACCOUNT_NOT_SIGNER 3010ULL
#define ERR_ACCOUNT_NOT_INITIALIZED 3012ULL

/* Runtime builtin errors (value << 32). */
#define ERR_ARITHMETIC_OVERFLOW (24ULL << 32)

#define TRY(expr)                                                                                                 \
    do {                                                                                                          \
        uint64_t _err = (expr);                                                                                   \
        if (_err != OK) return _err;                                                                              \
    } while (0)

/* Checked arithmetic: an overflow is an error, never a wrap. */
#define ADD(dst, a, b)                                                                                            \
    do {                                                                                                          \
        if (__builtin_add_overflow((a), (b), &(dst))) return ERR_ARITHMETIC_OVERFLOW;                            \
    } while (0)
#define SUB(dst, a, b)                                                                                            \
    do {                                                                                                          \
        if (__builtin_sub_overflow((a), (b), &(dst))) return ERR_ARITHMETIC_OVERFLOW;                            \
    } while (0)

#endif
