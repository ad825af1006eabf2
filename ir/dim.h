/*
 * dim.h — symbolic dimensions.
 *
 * A dim is a small polynomial over the graph's symbols with integer
 * coefficients: constant + sum of coef * (product of up to 3 symbols), for
 * example `B*S*12`, `S+1` or `768`. Symbols are the named dims of the ONNX
 * graph (`batch_size`, `sequence_length`, ...) and, later, the batch symbols
 * B, S, T of packing. A dim that has no such expression (data-dependent, or
 * beyond the representation) is `unknown`; it is never guessed.
 */
#ifndef RG_IR_DIM_H
#define RG_IR_DIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RG_DIM_MAX_TERMS 4
#define RG_DIM_MAX_FACTORS 3

typedef struct rg_dim_term {
    int64_t coef;                       /* never 0 in a normalised dim */
    uint16_t sym[RG_DIM_MAX_FACTORS];   /* symbol ids >= 1, ascending; 0 pads */
} rg_dim_term;

typedef struct rg_dim {
    int64_t constant;
    uint8_t nterms;
    bool unknown;
    rg_dim_term term[RG_DIM_MAX_TERMS];
} rg_dim;

rg_dim rg_dim_const(int64_t value);
rg_dim rg_dim_symbol(uint16_t sym);
rg_dim rg_dim_unknown(void);

bool rg_dim_is_const(const rg_dim *d, int64_t *value); /* value may be NULL */
bool rg_dim_equal(const rg_dim *a, const rg_dim *b);   /* false if either is unknown */

/* Arithmetic; the result is unknown when an operand is, on overflow, or when
 * the result does not fit the representation. */
rg_dim rg_dim_add(const rg_dim *a, const rg_dim *b);
rg_dim rg_dim_sub(const rg_dim *a, const rg_dim *b);
rg_dim rg_dim_mul(const rg_dim *a, const rg_dim *b);
/* Exact division by a positive constant: unknown unless every coefficient and
 * the constant divide evenly. */
rg_dim rg_dim_div_const(const rg_dim *a, int64_t divisor);

/* Evaluates with symbol values indexed by symbol id (values[0] unused).
 * False when unknown, a symbol is out of range, or on overflow. */
bool rg_dim_eval(const rg_dim *d, const int64_t *values, size_t nvalues, int64_t *out);

/* Writes the dim as text, e.g. "batch*seq*12+1" or "?", using `names` for
 * symbols (names[id]); returns what snprintf would. */
int rg_dim_format(const rg_dim *d, const char *const *names, size_t nnames, char *buf, size_t cap);

#endif
