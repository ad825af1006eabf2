/*
 * shape.c — dtype and symbolic-shape inference for every op of RG_OP_LIST.
 *
 * Each op names a rule in the op table (its last column); the rules are the
 * static functions infer_<rule> below and the dispatch table is generated
 * from RG_OP_LIST, so adding an op means naming its rule, nothing more.
 * Rules follow the ONNX operator specs for opsets 11..21 (node->opset picks
 * the form: attribute or input axes, Split sizes, Softmax defaults...).
 *
 * Dims are symbolic (dim.h). Where a shape depends on data (Reshape's shape,
 * Slice's starts, Range's limits), constant payloads are read; otherwise the
 * dims become unknown, never guessed, though the rank often stays known.
 *
 * rg_infer_shapes also keeps a side table of "known values": small integer
 * tensors (rank 0 or 1) whose elements are known as dims without being
 * constants, such as the output of Shape on [batch, seq, 768]. It follows
 * them through the usual shape subgraph (Gather, Unsqueeze, Concat, Slice,
 * Squeeze, Cast, Identity and integer arithmetic) so that Reshape, Expand,
 * ConstantOfShape, Tile and Range fed by such subgraphs get symbolic dims.
 * The table lives only for one rg_infer_shapes call; the graph is untouched
 * apart from output dtypes and shapes.
 */
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "graph.h"
#include "internal_ops.h"

/* The elements of one known value; len is -1 when nothing is known. */
typedef rg_known_value known_value;

typedef struct infer_ctx {
    rg_graph *g;
    rg_node *node;
    rg_error *err;
    int opset;
    known_value *known; /* indexed by value id; NULL under rg_infer_node */
    uint32_t nknown;
    char label[RG_LABEL_MAX];
} infer_ctx;

/* A working shape; rank -1 is unknown. */
typedef struct shape {
    int rank;
    rg_dim dims[RG_MAX_RANK];
} shape;

/* ------------------------------------------------------------- helpers */

static rg_status fail(infer_ctx *cx, rg_status status, const char *fmt, ...) RG_PRINTF(3, 4);

/* Every inference error starts with the node's label. */
static rg_status fail(infer_ctx *cx, rg_status status, const char *fmt, ...) {
    char msg[RG_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return rg_error_set(cx->err, status, "node %s: %s", cx->label, msg);
}

static const char *dim_text(const infer_ctx *cx, const rg_dim *d, char *buf, size_t cap) {
    rg_dim_format(d, cx->g->symbols, cx->g->nsymbols, buf, cap);
    return buf;
}

static rg_value *input(const infer_ctx *cx, uint32_t i) {
    return i < cx->node->ninputs ? cx->node->inputs[i] : NULL;
}

static shape shape_of(const rg_value *v) {
    shape s;
    memset(&s, 0, sizeof s);
    s.rank = v->rank;
    for (int i = 0; i < v->rank && i < RG_MAX_RANK; i++) s.dims[i] = v->dims[i];
    return s;
}

static shape shape_unknown(void) {
    shape s;
    memset(&s, 0, sizeof s);
    s.rank = -1;
    return s;
}

/* A shape of `rank` unknown dims (rank may be -1). */
static shape shape_of_rank(int rank) {
    shape s = shape_unknown();
    s.rank = rank;
    for (int i = 0; i < rank && i < RG_MAX_RANK; i++) s.dims[i] = rg_dim_unknown();
    return s;
}

static rg_status check_rank(infer_ctx *cx, int64_t rank) {
    if (rank > RG_MAX_RANK)
        return fail(cx, RG_ERR_UNSUPPORTED, "output rank %lld exceeds ragged's limit of %d", (long long)rank,
                    RG_MAX_RANK);
    return RG_OK;
}

/* Writes output `i` (skipped when omitted). */
static rg_status set_output(infer_ctx *cx, uint32_t i, rg_dtype dtype, const shape *s) {
    if (i >= cx->node->noutputs || !cx->node->outputs[i]) return RG_OK;
    RG_TRY(check_rank(cx, s->rank));
    rg_value *v = cx->node->outputs[i];
    RG_TRY(rg_value_set_shape(cx->g, v, dtype, s->rank, s->dims, cx->err));
    if (cx->known && v->id < cx->nknown) cx->known[v->id].len = -1;
    return RG_OK;
}

/* Normalises an axis into 0..rank-1, or 0..rank when `inclusive` (Flatten). */
static rg_status norm_axis(infer_ctx *cx, int64_t axis, int rank, bool inclusive, int *out) {
    int64_t a = axis < 0 ? axis + rank : axis;
    int64_t hi = inclusive ? rank : rank - 1;
    if (a < 0 || a > hi)
        return fail(cx, RG_ERR_SHAPE, "axis %lld is out of range for rank %d", (long long)axis, rank);
    *out = (int)a;
    return RG_OK;
}

/* Attribute errors do not name the node; inference errors always do. */
static rg_status attr_status(infer_ctx *cx, rg_status st) {
    char label[RG_LABEL_MAX];
    if (st == RG_OK) return st;
    return rg_error_prefix(cx->err, st, "node %s", rg_node_label(cx->node, label, sizeof label));
}

static rg_status attr_int(infer_ctx *cx, const char *name, int64_t dflt, int64_t *out) {
    return attr_status(cx, rg_node_attr_int(cx->node, name, dflt, out, cx->err));
}

static rg_status require_same_dtype(infer_ctx *cx, const rg_value *a, const rg_value *b) {
    if (a->dtype == b->dtype) return RG_OK;
    return fail(cx, RG_ERR_DTYPE, "inputs '%s' (%s) and '%s' (%s) have different dtypes", a->name,
                rg_dtype_name(a->dtype), b->name, rg_dtype_name(b->dtype));
}

static rg_status require_float(infer_ctx *cx, const rg_value *v) {
    if (rg_dtype_is_float(v->dtype)) return RG_OK;
    return fail(cx, RG_ERR_DTYPE, "input '%s' is %s; a floating-point dtype is required", v->name,
                rg_dtype_name(v->dtype));
}

static rg_status require_index_dtype(infer_ctx *cx, const rg_value *v) {
    if (v->dtype == RG_DTYPE_I64 || v->dtype == RG_DTYPE_I32) return RG_OK;
    return fail(cx, RG_ERR_DTYPE, "input '%s' is %s; int64 or int32 is required", v->name,
                rg_dtype_name(v->dtype));
}

/* ------------------------------------------------- constant and known data */

/* Element i of an integer constant payload. */
static int64_t tensor_int(const rg_tensor *t, size_t i) {
    switch (t->dtype) {
    case RG_DTYPE_I64: return ((const int64_t *)t->data)[i];
    case RG_DTYPE_I32: return ((const int32_t *)t->data)[i];
    default: return (int64_t)rg_load_as_double(t->dtype, t->data, i);
    }
}

/* The payload of v when it is an integer (or bool) constant of rank 0 or 1. */
static const rg_tensor *const_ints(const rg_value *v) {
    if (!v || !v->constant || !v->constant->data) return NULL;
    const rg_tensor *t = v->constant;
    if (t->rank > 1 || !(rg_dtype_is_integer(t->dtype) || t->dtype == RG_DTYPE_BOOL)) return NULL;
    return t;
}

/* The elements of a rank-0/1 integer value as dims, from its constant
 * payload or the known-value table; -1 when unknown or longer than cap. */
static int known_elems(const infer_ctx *cx, const rg_value *v, rg_dim *out, int cap) {
    if (!v) return -1;
    const rg_tensor *t = const_ints(v);
    if (t) {
        size_t n = rg_tensor_numel(t);
        if (n > (size_t)cap) return -1;
        for (size_t i = 0; i < n; i++) out[i] = rg_dim_const(tensor_int(t, i));
        return (int)n;
    }
    if (!cx->known || v->id >= cx->nknown || cx->known[v->id].len < 0) return -1;
    const known_value *k = &cx->known[v->id];
    if (k->len > cap) return -1;
    memcpy(out, k->elems, sizeof *out * (size_t)k->len);
    return k->len;
}

/* Records output 0's elements (after set_output, which clears them). */
static void set_known(infer_ctx *cx, const rg_dim *elems, int len) {
    rg_value *v = cx->node->noutputs ? cx->node->outputs[0] : NULL;
    if (!cx->known || !v || v->id >= cx->nknown || len < 0 || len > RG_MAX_RANK) return;
    if (!(rg_dtype_is_integer(v->dtype) || v->dtype == RG_DTYPE_BOOL) || v->rank > 1) return;
    cx->known[v->id].len = len;
    memcpy(cx->known[v->id].elems, elems, sizeof *elems * (size_t)len);
}

/* The length of a 1-D value when its one dim is a constant, else -1. */
static int64_t vector_length(const rg_value *v) {
    int64_t n;
    if (v && v->rank == 1 && rg_dim_is_const(&v->dims[0], &n)) return n;
    return -1;
}

/* ---------------------------------------------------------- broadcasting */

/* numpy broadcasting of two dims: 1 gives way; equal dims match; a constant
 * other than 1 wins over a symbol or unknown (which must then be 1 or equal);
 * two different symbols give an unknown dim; two different constants are an
 * error. */
static rg_status broadcast_dim(infer_ctx *cx, const rg_dim *a, const rg_dim *b, rg_dim *out) {
    int64_t ca, cb;
    bool ka = rg_dim_is_const(a, &ca), kb = rg_dim_is_const(b, &cb);
    if (ka && ca == 1) *out = *b;
    else if (kb && cb == 1) *out = *a;
    else if (rg_dim_equal(a, b)) *out = *a;
    else if (ka && kb) {
        char x[64], y[64];
        return fail(cx, RG_ERR_SHAPE, "cannot broadcast dims %s and %s", dim_text(cx, a, x, sizeof x),
                    dim_text(cx, b, y, sizeof y));
    } else if (ka) *out = *a;
    else if (kb) *out = *b;
    else *out = rg_dim_unknown();
    return RG_OK;
}

/* acc = broadcast(acc, s), right-aligned. */
static rg_status broadcast_into(infer_ctx *cx, shape *acc, const shape *s) {
    if (acc->rank < 0 || s->rank < 0) {
        *acc = shape_unknown();
        return RG_OK;
    }
    shape r = shape_unknown();
    r.rank = acc->rank > s->rank ? acc->rank : s->rank;
    for (int i = 0; i < r.rank; i++) {
        int ia = i - (r.rank - acc->rank), is = i - (r.rank - s->rank);
        rg_dim one = rg_dim_const(1);
        const rg_dim *da = ia >= 0 ? &acc->dims[ia] : &one;
        const rg_dim *ds = is >= 0 ? &s->dims[is] : &one;
        RG_TRY(broadcast_dim(cx, da, ds, &r.dims[i]));
    }
    *acc = r;
    return RG_OK;
}

/* ------------------------------------------------------------- the rules */

/* Same shape as input 0; dtype too, or bool for comparisons. Softmax's axis
 * and Clip's bounds are checked here as they do not change the shape. */
static rg_status infer_unary(infer_ctx *cx) {
    rg_value *x = input(cx, 0);
    if (rg_op_has(cx->node->op, RG_OPF_FLOAT_ONLY)) RG_TRY(require_float(cx, x));
    for (uint32_t i = 1; cx->node->op == RG_OP_CLIP && i < cx->node->ninputs; i++)
        if (input(cx, i)) RG_TRY(require_same_dtype(cx, x, input(cx, i)));
    const rg_attr *axis = rg_node_attr(cx->node, "axis");
    if (axis && x->rank >= 0) {
        int a;
        if (axis->kind != RG_ATTR_INT) return fail(cx, RG_ERR_INVALID_MODEL, "attribute 'axis' is not an int");
        RG_TRY(norm_axis(cx, axis->i, x->rank, false, &a));
    }
    if (cx->node->op == RG_OP_TRILU && x->rank >= 0 && x->rank < 2)
        return fail(cx, RG_ERR_SHAPE, "input '%s' has rank %d; at least 2 is required", x->name, x->rank);
    rg_dtype dtype = rg_op_has(cx->node->op, RG_OPF_BOOL_OUT) ? RG_DTYPE_BOOL : x->dtype;
    shape s = shape_of(x);
    RG_TRY(set_output(cx, 0, dtype, &s));
    if (cx->node->op == RG_OP_IDENTITY) {
        rg_dim elems[RG_MAX_RANK];
        set_known(cx, elems, known_elems(cx, x, elems, RG_MAX_RANK));
    }
    return RG_OK;
}

static rg_status infer_isnan(infer_ctx *cx) {
    rg_value *x = input(cx, 0);
    RG_TRY(require_float(cx, x));
    shape s = shape_of(x);
    return set_output(cx, 0, RG_DTYPE_BOOL, &s);
}

static rg_status infer_cast(infer_ctx *cx) {
    rg_value *x = input(cx, 0);
    const rg_attr *to = rg_node_attr(cx->node, "to");
    if (!to || to->kind != RG_ATTR_INT)
        return fail(cx, RG_ERR_INVALID_MODEL, "attribute 'to' is missing or not an int");
    rg_dtype dtype = to->i >= 0 && to->i <= 64 ? rg_dtype_from_onnx((int)to->i) : RG_DTYPE_UNDEFINED;
    if (dtype == RG_DTYPE_UNDEFINED)
        return fail(cx, RG_ERR_UNSUPPORTED, "casts to ONNX type %lld (%s), which ragged does not support",
                    (long long)to->i, to->i >= 0 && to->i <= 64 ? rg_onnx_dtype_name((int)to->i) : "?");
    shape s = shape_of(x);
    RG_TRY(set_output(cx, 0, dtype, &s));
    if (rg_dtype_is_integer(dtype)) {
        rg_dim elems[RG_MAX_RANK];
        set_known(cx, elems, known_elems(cx, x, elems, RG_MAX_RANK));
    }
    return RG_OK;
}

/* Output 0 is the input; the optional mask has its shape, as bool. */
static rg_status infer_dropout(infer_ctx *cx) {
    rg_value *x = input(cx, 0);
    shape s = shape_of(x);
    RG_TRY(set_output(cx, 0, x->dtype, &s));
    return set_output(cx, 1, RG_DTYPE_BOOL, &s);
}

/* A dim that cannot be negative: no unknown, no negative coefficient. */
static bool dim_nonnegative(const rg_dim *d) {
    if (d->unknown || d->constant < 0) return false;
    for (int i = 0; i < d->nterms; i++)
        if (d->term[i].coef < 0) return false;
    return true;
}

/* Equal on known elements: constants compare; a size never equals a
 * negative constant, which decides the `Equal(shape, -1)` of exporters. */
static rg_dim fold_equal(const rg_dim *x, const rg_dim *y) {
    int64_t cx, cy;
    bool kx = rg_dim_is_const(x, &cx), ky = rg_dim_is_const(y, &cy);
    if (kx && ky) return rg_dim_const(cx == cy);
    if (rg_dim_equal(x, y)) return rg_dim_const(1);
    if ((kx && cx < 0 && dim_nonnegative(y)) || (ky && cy < 0 && dim_nonnegative(x))) return rg_dim_const(0);
    return rg_dim_unknown();
}

/* Add/Sub/Mul/Div/Equal on known integer vectors, for shape arithmetic
 * such as `hidden / heads` or `seq * 12`. */
static void fold_known_binary(infer_ctx *cx, const rg_value *a, const rg_value *b) {
    rg_dim ea[RG_MAX_RANK], eb[RG_MAX_RANK], r[RG_MAX_RANK];
    int na = known_elems(cx, a, ea, RG_MAX_RANK), nb = known_elems(cx, b, eb, RG_MAX_RANK);
    if (na < 0 || nb < 0 || !rg_dtype_is_integer(a->dtype)) return;
    if (na != nb && na != 1 && nb != 1) return;
    int n = na > nb ? na : nb;
    for (int i = 0; i < n; i++) {
        const rg_dim *x = &ea[na == 1 ? 0 : i], *y = &eb[nb == 1 ? 0 : i];
        int64_t cy;
        switch (cx->node->op) {
        case RG_OP_ADD: r[i] = rg_dim_add(x, y); break;
        case RG_OP_SUB: r[i] = rg_dim_sub(x, y); break;
        case RG_OP_MUL: r[i] = rg_dim_mul(x, y); break;
        case RG_OP_DIV: r[i] = rg_dim_is_const(y, &cy) ? rg_dim_div_const(x, cy) : rg_dim_unknown(); break;
        case RG_OP_EQUAL: r[i] = fold_equal(x, y); break;
        default: return;
        }
        if (r[i].unknown && cx->node->op == RG_OP_EQUAL) return;
    }
    set_known(cx, r, n);
}

static rg_status infer_binary(infer_ctx *cx) {
    rg_value *a = input(cx, 0), *b = input(cx, 1);
    /* Pow's exponent may have its own dtype (opset 12 on) */
    if (cx->node->op != RG_OP_POW) RG_TRY(require_same_dtype(cx, a, b));
    shape s = shape_of(a), sb = shape_of(b);
    RG_TRY(broadcast_into(cx, &s, &sb));
    rg_dtype dtype = rg_op_has(cx->node->op, RG_OPF_BOOL_OUT) ? RG_DTYPE_BOOL : a->dtype;
    RG_TRY(set_output(cx, 0, dtype, &s));
    fold_known_binary(cx, a, b);
    return RG_OK;
}

static rg_status infer_variadic(infer_ctx *cx) {
    rg_value *first = input(cx, 0);
    shape s = shape_of(first);
    for (uint32_t i = 1; i < cx->node->ninputs; i++) {
        rg_value *v = input(cx, i);
        if (!v) return fail(cx, RG_ERR_INVALID_MODEL, "input %u is missing", i);
        RG_TRY(require_same_dtype(cx, first, v));
        shape si = shape_of(v);
        RG_TRY(broadcast_into(cx, &s, &si));
    }
    return set_output(cx, 0, first->dtype, &s);
}

/* Where on known vectors: `Where(Equal(shape, -1), ones, shape)`. */
static void fold_known_where(infer_ctx *cx, const rg_value *c, const rg_value *x, const rg_value *y) {
    rg_dim ec[RG_MAX_RANK], ex[RG_MAX_RANK], ey[RG_MAX_RANK], r[RG_MAX_RANK];
    int nc = known_elems(cx, c, ec, RG_MAX_RANK), nx = known_elems(cx, x, ex, RG_MAX_RANK);
    int ny = known_elems(cx, y, ey, RG_MAX_RANK);
    if (nc < 0 || nx < 0 || ny < 0) return;
    int n = nc > nx ? nc : nx;
    n = n > ny ? n : ny;
    if ((nc != n && nc != 1) || (nx != n && nx != 1) || (ny != n && ny != 1)) return;
    for (int i = 0; i < n; i++) {
        int64_t pick;
        if (!rg_dim_is_const(&ec[nc == 1 ? 0 : i], &pick)) return;
        r[i] = pick ? ex[nx == 1 ? 0 : i] : ey[ny == 1 ? 0 : i];
    }
    set_known(cx, r, n);
}

static rg_status infer_where(infer_ctx *cx) {
    rg_value *c = input(cx, 0), *x = input(cx, 1), *y = input(cx, 2);
    if (c->dtype != RG_DTYPE_BOOL)
        return fail(cx, RG_ERR_DTYPE, "condition '%s' is %s; bool is required", c->name, rg_dtype_name(c->dtype));
    RG_TRY(require_same_dtype(cx, x, y));
    shape s = shape_of(c), sx = shape_of(x), sy = shape_of(y);
    RG_TRY(broadcast_into(cx, &s, &sx));
    RG_TRY(broadcast_into(cx, &s, &sy));
    RG_TRY(set_output(cx, 0, x->dtype, &s));
    fold_known_where(cx, c, x, y);
    return RG_OK;
}

/* Y has X's shape; Mean and InvStdDev keep the dims before `axis` and have
 * 1 from there on, in the stash dtype. */
static rg_status infer_layer_normalization(infer_ctx *cx) {
    rg_value *x = input(cx, 0), *scale = input(cx, 1), *bias = input(cx, 2);
    RG_TRY(require_float(cx, x));
    RG_TRY(require_same_dtype(cx, x, scale));
    if (bias) RG_TRY(require_same_dtype(cx, x, bias));
    int64_t axis, stash;
    RG_TRY(attr_int(cx, "axis", -1, &axis));
    RG_TRY(attr_int(cx, "stash_type", 1, &stash));
    rg_dtype stash_dtype = stash >= 0 && stash <= 64 ? rg_dtype_from_onnx((int)stash) : RG_DTYPE_UNDEFINED;
    if (!rg_dtype_is_float(stash_dtype))
        return fail(cx, RG_ERR_UNSUPPORTED, "stash_type %lld is not a supported floating-point type",
                    (long long)stash);
    shape s = shape_of(x), stats = shape_of(x);
    if (x->rank >= 0) {
        int a;
        RG_TRY(norm_axis(cx, axis, x->rank, false, &a));
        for (int i = a; i < stats.rank; i++) stats.dims[i] = rg_dim_const(1);
    }
    RG_TRY(set_output(cx, 0, x->dtype, &s));
    RG_TRY(set_output(cx, 1, stash_dtype, &stats));
    return set_output(cx, 2, stash_dtype, &stats);
}

/* Reads axes from attribute `name` (older opsets) or input `index` (newer
 * ones) into axes; *count -1 means "given but not constant". Passing an
 * attribute where the opset wants an input (or the reverse) is an error,
 * not something to ignore. */
static rg_status read_axes(infer_ctx *cx, bool from_input, uint32_t index, int64_t *axes, int cap, int *count) {
    const rg_attr *attr = rg_node_attr(cx->node, "axes");
    rg_value *v = input(cx, index);
    if (from_input && attr)
        return fail(cx, RG_ERR_INVALID_MODEL, "attribute 'axes' is not allowed at opset %d; axes is an input",
                    cx->opset);
    if (!from_input && v)
        return fail(cx, RG_ERR_INVALID_MODEL, "input 'axes' is not allowed at opset %d; axes is an attribute",
                    cx->opset);
    *count = 0;
    if (!from_input) {
        if (!attr) return RG_OK;
        if (attr->kind != RG_ATTR_INTS) return fail(cx, RG_ERR_INVALID_MODEL, "attribute 'axes' is not ints");
        if (attr->count > (size_t)cap) return fail(cx, RG_ERR_SHAPE, "too many axes (%zu)", attr->count);
        memcpy(axes, attr->ints, sizeof *axes * attr->count);
        *count = (int)attr->count;
        return RG_OK;
    }
    if (!v) return RG_OK;
    RG_TRY(require_index_dtype(cx, v));
    const rg_tensor *t = const_ints(v);
    if (!t) {
        *count = -1;
        return RG_OK;
    }
    size_t n = rg_tensor_numel(t);
    if (n > (size_t)cap) return fail(cx, RG_ERR_SHAPE, "too many axes (%zu)", n);
    for (size_t i = 0; i < n; i++) axes[i] = tensor_int(t, i);
    *count = (int)n;
    return RG_OK;
}

/* Normalises axes against rank into a mask; duplicates are an error. */
static rg_status axes_mask(infer_ctx *cx, const int64_t *axes, int count, int rank, bool *mask) {
    memset(mask, 0, sizeof(bool) * RG_MAX_RANK * 2);
    for (int i = 0; i < count; i++) {
        int a;
        RG_TRY(norm_axis(cx, axes[i], rank, false, &a));
        if (mask[a]) return fail(cx, RG_ERR_INVALID_MODEL, "axis %lld is repeated", (long long)axes[i]);
        mask[a] = true;
    }
    return RG_OK;
}

static rg_status infer_reduce(infer_ctx *cx) {
    rg_value *x = input(cx, 0);
    int since = cx->node->op == RG_OP_REDUCE_SUM ? 13 : 18;
    int64_t keepdims, noop;
    RG_TRY(attr_int(cx, "keepdims", 1, &keepdims));
    RG_TRY(attr_int(cx, "noop_with_empty_axes", 0, &noop));
    int64_t axes[RG_MAX_RANK];
    int count;
    RG_TRY(read_axes(cx, cx->opset >= since, 1, axes, RG_MAX_RANK, &count));
    shape s = shape_of(x);
    if (count == 0 && noop) return set_output(cx, 0, x->dtype, &s);
    if (x->rank < 0) return set_output(cx, 0, x->dtype, &s);
    if (count < 0) {
        /* which axes is unknown; keepdims still fixes the rank, and so
         * does the length of the axes input */
        int64_t n = vector_length(input(cx, 1));
        int rank = keepdims ? x->rank : n >= 0 && n <= x->rank ? x->rank - (int)n : -1;
        shape r = shape_of_rank(rank);
        return set_output(cx, 0, x->dtype, &r);
    }
    bool mask[RG_MAX_RANK * 2];
    RG_TRY(axes_mask(cx, axes, count, x->rank, mask));
    shape r = shape_unknown();
    r.rank = 0;
    for (int i = 0; i < x->rank; i++) {
        bool reduced = count == 0 || mask[i];
        if (!reduced) r.dims[r.rank++] = x->dims[i];
        else if (keepdims) r.dims[r.rank++] = rg_dim_const(1);
    }
    return set_output(cx, 0, x->dtype, &r);
}

static rg_status infer_cumsum(infer_ctx *cx) {
    rg_value *x = input(cx, 0), *axis = input(cx, 1);
    RG_TRY(require_index_dtype(cx, axis));
    if (axis->rank > 1)
        return fail(cx, RG_ERR_SHAPE, "axis '%s' has rank %d; a scalar is required", axis->name, axis->rank);
    const rg_tensor *t = const_ints(axis);
    if (t && x->rank >= 0 && rg_tensor_numel(t) == 1) {
        int a;
        RG_TRY(norm_axis(cx, tensor_int(t, 0), x->rank, false, &a));
    }
    shape s = shape_of(x);
    return set_output(cx, 0, x->dtype, &s);
}

/* Unifies two dims that must be equal (a contraction or concat dim): an
 * error when both are different constants, else the better known one. */
static rg_status unify_dim(infer_ctx *cx, const rg_dim *a, const rg_dim *b, const char *what, rg_dim *out) {
    int64_t ca, cb;
    bool ka = rg_dim_is_const(a, &ca), kb = rg_dim_is_const(b, &cb);
    if (ka && kb && ca != cb) {
        char x[64], y[64];
        return fail(cx, RG_ERR_SHAPE, "%s dims %s and %s differ", what, dim_text(cx, a, x, sizeof x),
                    dim_text(cx, b, y, sizeof y));
    }
    if (out) *out = a->unknown ? *b : *a;
    return RG_OK;
}

/* numpy matmul: 1-D operands are promoted (and the added dim dropped
 * again), batch dims broadcast, the inner dims must agree. */
static rg_status infer_matmul(infer_ctx *cx) {
    rg_value *a = input(cx, 0), *b = input(cx, 1);
    RG_TRY(require_same_dtype(cx, a, b));
    if (a->rank == 0 || b->rank == 0)
        return fail(cx, RG_ERR_SHAPE, "MatMul needs operands of rank 1 or more, got ranks %d and %d", a->rank,
                    b->rank);
    if (a->rank < 0 || b->rank < 0) {
        shape u = shape_unknown();
        return set_output(cx, 0, a->dtype, &u);
    }
    shape sa = shape_of(a), sb = shape_of(b);
    bool a_vec = sa.rank == 1, b_vec = sb.rank == 1;
    if (a_vec) {
        sa.dims[1] = sa.dims[0];
        sa.dims[0] = rg_dim_const(1);
        sa.rank = 2;
    }
    if (b_vec) {
        sb.dims[1] = rg_dim_const(1);
        sb.rank = 2;
    }
    RG_TRY(unify_dim(cx, &sa.dims[sa.rank - 1], &sb.dims[sb.rank - 2], "contracted", NULL));
    shape ba = sa, bb = sb;
    ba.rank -= 2;
    bb.rank -= 2;
    RG_TRY(broadcast_into(cx, &ba, &bb));
    shape r = ba;
    if (!a_vec) r.dims[r.rank++] = sa.dims[sa.rank - 2];
    if (!b_vec) r.dims[r.rank++] = sb.dims[sb.rank - 1];
    return set_output(cx, 0, a->dtype, &r);
}

static rg_status infer_gemm(infer_ctx *cx) {
    rg_value *a = input(cx, 0), *b = input(cx, 1), *c = input(cx, 2);
    RG_TRY(require_same_dtype(cx, a, b));
    if (c) RG_TRY(require_same_dtype(cx, a, c));
    int64_t trans_a, trans_b;
    RG_TRY(attr_int(cx, "transA", 0, &trans_a));
    RG_TRY(attr_int(cx, "transB", 0, &trans_b));
    if ((a->rank >= 0 && a->rank != 2) || (b->rank >= 0 && b->rank != 2))
        return fail(cx, RG_ERR_SHAPE, "Gemm needs 2-D operands, got ranks %d and %d", a->rank, b->rank);
    shape r = shape_of_rank(2);
    if (a->rank == 2) r.dims[0] = a->dims[trans_a ? 1 : 0];
    if (b->rank == 2) r.dims[1] = b->dims[trans_b ? 0 : 1];
    if (a->rank == 2 && b->rank == 2)
        RG_TRY(unify_dim(cx, &a->dims[trans_a ? 0 : 1], &b->dims[trans_b ? 1 : 0], "contracted", NULL));
    if (c && c->rank > 2) return fail(cx, RG_ERR_SHAPE, "bias '%s' has rank %d; at most 2", c->name, c->rank);
    if (c && c->rank >= 0) {
        /* C broadcasts one way to [M, N] */
        shape sc = shape_of(c), check = r;
        RG_TRY(broadcast_into(cx, &check, &sc));
    }
    return set_output(cx, 0, a->dtype, &r);
}

/* Shape: int64[end - start] with start/end (opset 15) clamped to the rank. */
static rg_status infer_shape(infer_ctx *cx) {
    rg_value *x = input(cx, 0);
    int64_t start = 0, end = INT64_MAX;
    if (cx->opset >= 15) {
        RG_TRY(attr_int(cx, "start", 0, &start));
        RG_TRY(attr_int(cx, "end", INT64_MAX, &end));
    }
    shape r = shape_of_rank(1);
    if (x->rank < 0) return set_output(cx, 0, RG_DTYPE_I64, &r);
    int64_t rank = x->rank;
    if (start < 0) start += rank;
    if (end < 0) end += rank;
    start = start < 0 ? 0 : start > rank ? rank : start;
    end = end < 0 ? 0 : end > rank ? rank : end;
    int64_t n = end > start ? end - start : 0;
    r.dims[0] = rg_dim_const(n);
    RG_TRY(set_output(cx, 0, RG_DTYPE_I64, &r));
    set_known(cx, x->dims + start, (int)n);
    return RG_OK;
}

/* The output shape given by a 1-D int64 input such as Expand's or
 * ConstantOfShape's: its elements when known, else a rank from its length,
 * else nothing. */
static shape shape_from_input(const infer_ctx *cx, const rg_value *v) {
    shape s = shape_unknown();
    int n = known_elems(cx, v, s.dims, RG_MAX_RANK);
    if (n >= 0) {
        s.rank = n;
        return s;
    }
    int64_t len = vector_length(v);
    return shape_of_rank(len >= 0 && len <= RG_MAX_RANK ? (int)len : -1);
}

static rg_status require_shape_vector(infer_ctx *cx, const rg_value *v) {
    if (v->dtype != RG_DTYPE_I64)
        return fail(cx, RG_ERR_DTYPE, "shape input '%s' is %s; int64 is required", v->name, rg_dtype_name(v->dtype));
    if (v->rank > 1)
        return fail(cx, RG_ERR_SHAPE, "shape input '%s' has rank %d; 1 is required", v->name, v->rank);
    int64_t len = vector_length(v);
    RG_TRY(check_rank(cx, len));
    return RG_OK;
}

/* A negative constant in a shape that should only hold sizes. */
static rg_status check_sizes(infer_ctx *cx, const shape *s) {
    for (int i = 0; i < s->rank; i++) {
        int64_t c;
        if (rg_dim_is_const(&s->dims[i], &c) && c < 0)
            return fail(cx, RG_ERR_SHAPE, "dim %d is negative (%lld)", i, (long long)c);
    }
    return RG_OK;
}

static rg_status infer_constant_of_shape(infer_ctx *cx) {
    rg_value *v = input(cx, 0);
    RG_TRY(require_shape_vector(cx, v));
    rg_dtype dtype = RG_DTYPE_F32;
    const rg_attr *value = rg_node_attr(cx->node, "value");
    if (value) {
        if (value->kind != RG_ATTR_TENSOR || !value->t)
            return fail(cx, RG_ERR_INVALID_MODEL, "attribute 'value' is not a tensor");
        if (rg_tensor_numel(value->t) != 1)
            return fail(cx, RG_ERR_INVALID_MODEL, "attribute 'value' must hold one element");
        dtype = value->t->dtype;
        if (!rg_dtype_is_valid(dtype)) return fail(cx, RG_ERR_DTYPE, "attribute 'value' has no known dtype");
    }
    shape s = shape_from_input(cx, v);
    RG_TRY(check_sizes(cx, &s));
    RG_TRY(set_output(cx, 0, dtype, &s));
    /* a short integer vector of one value, e.g. the ones of an Expand */
    int64_t n;
    if (s.rank == 1 && rg_dim_is_const(&s.dims[0], &n) && n <= RG_MAX_RANK && value && value->t->data &&
        rg_dtype_is_integer(dtype)) {
        rg_dim elems[RG_MAX_RANK];
        for (int64_t i = 0; i < n; i++) elems[i] = rg_dim_const(tensor_int(value->t, 0));
        set_known(cx, elems, (int)n);
    }
    return RG_OK;
}

static rg_status infer_expand(infer_ctx *cx) {
    rg_value *x = input(cx, 0), *v = input(cx, 1);
    RG_TRY(require_shape_vector(cx, v));
    shape s = shape_of(x), target = shape_from_input(cx, v);
    RG_TRY(broadcast_into(cx, &s, &target));
    return set_output(cx, 0, x->dtype, &s);
}

/* Cancels the dims common to `a` and `b` and multiplies what remains of
 * each, so [B, S, 768] against [B, S, 12] leaves 768 and 12. */
static void cancel_products(const rg_dim *a, int na, const rg_dim *b, int nb, rg_dim *pa, rg_dim *pb) {
    bool used[RG_MAX_RANK] = {false};
    *pa = rg_dim_const(1);
    *pb = rg_dim_const(1);
    for (int j = 0; j < nb; j++) {
        int match = -1;
        for (int i = 0; i < na && match < 0; i++)
            if (!used[i] && rg_dim_equal(&a[i], &b[j])) match = i;
        if (match >= 0) used[match] = true;
        else *pb = rg_dim_mul(pb, &b[j]);
    }
    for (int i = 0; i < na; i++)
        if (!used[i]) *pa = rg_dim_mul(pa, &a[i]);
}

/* Reshape: 0 copies the input dim (unless allowzero), one -1 takes what is
 * left of the element count. */
static rg_status infer_reshape(infer_ctx *cx) {
    rg_value *x = input(cx, 0), *v = input(cx, 1);
    RG_TRY(require_shape_vector(cx, v));
    int64_t allowzero = 0;
    if (cx->opset >= 14) RG_TRY(attr_int(cx, "allowzero", 0, &allowzero));
    shape s = shape_unknown();
    int n = known_elems(cx, v, s.dims, RG_MAX_RANK);
    if (n < 0) {
        s = shape_from_input(cx, v);
        return set_output(cx, 0, x->dtype, &s);
    }
    s.rank = n;
    int infer_at = -1;
    for (int i = 0; i < n; i++) {
        int64_t c;
        if (!rg_dim_is_const(&s.dims[i], &c)) continue;
        if (c == 0 && !allowzero) {
            if (x->rank >= 0 && i >= x->rank)
                return fail(cx, RG_ERR_SHAPE, "shape element %d is 0 but the input has rank %d", i, x->rank);
            s.dims[i] = x->rank >= 0 ? x->dims[i] : rg_dim_unknown();
        } else if (c == -1) {
            if (infer_at >= 0) return fail(cx, RG_ERR_SHAPE, "shape has more than one -1");
            infer_at = i;
        } else if (c < 0) {
            return fail(cx, RG_ERR_SHAPE, "shape element %d is %lld", i, (long long)c);
        }
    }
    if (infer_at >= 0 && allowzero) {
        for (int i = 0; i < n; i++) {
            int64_t c;
            if (rg_dim_is_const(&s.dims[i], &c) && c == 0)
                return fail(cx, RG_ERR_SHAPE, "shape has both 0 and -1 with allowzero set");
        }
    }
    if (x->rank < 0) {
        if (infer_at >= 0) s.dims[infer_at] = rg_dim_unknown();
        return set_output(cx, 0, x->dtype, &s);
    }
    /* the other dims against the input's: what remains must divide */
    rg_dim others[RG_MAX_RANK];
    int nothers = 0;
    for (int i = 0; i < n; i++)
        if (i != infer_at) others[nothers++] = s.dims[i];
    rg_dim rest_in, rest_out;
    cancel_products(x->dims, x->rank, others, nothers, &rest_in, &rest_out);
    int64_t ci, co;
    bool ki = rg_dim_is_const(&rest_in, &ci), ko = rg_dim_is_const(&rest_out, &co);
    char a[64], b[64];
    if (infer_at >= 0) {
        if (ki && ko && (co == 0 || ci % co != 0))
            return fail(cx, RG_ERR_SHAPE, "cannot reshape: %s elements do not divide into %s",
                        dim_text(cx, &rest_in, a, sizeof a), dim_text(cx, &rest_out, b, sizeof b));
        s.dims[infer_at] = ko && co > 0 ? rg_dim_div_const(&rest_in, co) : rg_dim_unknown();
    } else if (ki && ko && ci != co) {
        return fail(cx, RG_ERR_SHAPE, "cannot reshape %s elements into %s", dim_text(cx, &rest_in, a, sizeof a),
                    dim_text(cx, &rest_out, b, sizeof b));
    }
    RG_TRY(set_output(cx, 0, x->dtype, &s));
    /* a known vector keeps its elements through a reshape to rank 0 or 1 */
    rg_dim elems[RG_MAX_RANK];
    int nelems = known_elems(cx, x, elems, RG_MAX_RANK);
    if (s.rank <= 1 && nelems >= 0 && (s.rank == 1 || nelems == 1)) set_known(cx, elems, nelems);
    return RG_OK;
}

static rg_dim product(const rg_dim *dims, int from, int to) {
    rg_dim p = rg_dim_const(1);
    for (int i = from; i < to; i++) p = rg_dim_mul(&p, &dims[i]);
    return p;
}

static rg_status infer_flatten(infer_ctx *cx) {
    rg_value *x = input(cx, 0);
    int64_t axis;
    RG_TRY(attr_int(cx, "axis", 1, &axis));
    shape r = shape_of_rank(2);
    if (x->rank >= 0) {
        int a;
        RG_TRY(norm_axis(cx, axis, x->rank, true, &a));
        r.dims[0] = product(x->dims, 0, a);
        r.dims[1] = product(x->dims, a, x->rank);
    }
    return set_output(cx, 0, x->dtype, &r);
}

static rg_status infer_unsqueeze(infer_ctx *cx) {
    rg_value *x = input(cx, 0);
    int64_t axes[RG_MAX_RANK * 2];
    int count;
    RG_TRY(read_axes(cx, cx->opset >= 13, 1, axes, RG_MAX_RANK * 2, &count));
    if (count == 0 && cx->opset >= 13 && !input(cx, 1))
        return fail(cx, RG_ERR_INVALID_MODEL, "input 'axes' is required");
    if (count == 0 && cx->opset < 13) return fail(cx, RG_ERR_INVALID_MODEL, "attribute 'axes' is required");
    if (x->rank < 0 || count < 0) {
        int64_t n = count < 0 ? vector_length(input(cx, 1)) : count;
        shape r = shape_of_rank(x->rank >= 0 && n >= 0 ? x->rank + (int)n : -1);
        RG_TRY(check_rank(cx, r.rank));
        return set_output(cx, 0, x->dtype, &r);
    }
    int out_rank = x->rank + count;
    RG_TRY(check_rank(cx, out_rank));
    bool mask[RG_MAX_RANK * 2];
    RG_TRY(axes_mask(cx, axes, count, out_rank, mask));
    shape r = shape_unknown();
    r.rank = out_rank;
    for (int i = 0, k = 0; i < out_rank; i++) r.dims[i] = mask[i] ? rg_dim_const(1) : x->dims[k++];
    RG_TRY(set_output(cx, 0, x->dtype, &r));
    rg_dim elems[RG_MAX_RANK];
    if (x->rank == 0 && known_elems(cx, x, elems, 1) == 1) set_known(cx, elems, 1);
    return RG_OK;
}

static rg_status infer_squeeze(infer_ctx *cx) {
    rg_value *x = input(cx, 0);
    int64_t axes[RG_MAX_RANK];
    int count;
    RG_TRY(read_axes(cx, cx->opset >= 13, 1, axes, RG_MAX_RANK, &count));
    if (x->rank < 0 || count < 0) {
        int64_t n = count < 0 ? vector_length(input(cx, 1)) : count;
        shape r = shape_of_rank(x->rank >= 0 && n >= 0 && n <= x->rank && count != 0 ? x->rank - (int)n : -1);
        return set_output(cx, 0, x->dtype, &r);
    }
    bool mask[RG_MAX_RANK * 2];
    RG_TRY(axes_mask(cx, axes, count, x->rank, mask));
    shape r = shape_unknown();
    r.rank = 0;
    for (int i = 0; i < x->rank; i++) {
        int64_t c;
        bool is_const = rg_dim_is_const(&x->dims[i], &c);
        if (count == 0) {
            /* no axes: every dim of 1 goes, so a dim not known as a
             * constant leaves the rank unknown */
            if (!is_const) {
                r = shape_unknown();
                break;
            }
            if (c != 1) r.dims[r.rank++] = x->dims[i];
        } else if (mask[i]) {
            if (is_const && c != 1)
                return fail(cx, RG_ERR_SHAPE, "cannot squeeze axis %d of size %lld", i, (long long)c);
        } else {
            r.dims[r.rank++] = x->dims[i];
        }
    }
    RG_TRY(set_output(cx, 0, x->dtype, &r));
    rg_dim elems[RG_MAX_RANK];
    if (x->rank == 1 && r.rank == 0 && known_elems(cx, x, elems, 1) == 1) set_known(cx, elems, 1);
    return RG_OK;
}

static rg_status infer_transpose(infer_ctx *cx) {
    rg_value *x = input(cx, 0);
    const int64_t *perm;
    size_t nperm;
    RG_TRY(attr_status(cx, rg_node_attr_ints(cx->node, "perm", &perm, &nperm, cx->err)));
    if (x->rank < 0) {
        shape r = shape_of_rank(perm ? (int)(nperm <= RG_MAX_RANK ? nperm : RG_MAX_RANK + 1) : -1);
        RG_TRY(check_rank(cx, r.rank));
        return set_output(cx, 0, x->dtype, &r);
    }
    if (perm && nperm != (size_t)x->rank)
        return fail(cx, RG_ERR_SHAPE, "perm has %zu entries for an input of rank %d", nperm, x->rank);
    bool seen[RG_MAX_RANK] = {false};
    shape r = shape_unknown();
    r.rank = x->rank;
    for (int i = 0; i < x->rank; i++) {
        int64_t p = perm ? perm[i] : x->rank - 1 - i;
        if (p < 0 || p >= x->rank || seen[p])
            return fail(cx, RG_ERR_SHAPE, "perm is not a permutation of 0..%d", x->rank - 1);
        seen[p] = true;
        r.dims[i] = x->dims[p];
    }
    return set_output(cx, 0, x->dtype, &r);
}

static void fold_known_concat(infer_ctx *cx) {
    rg_dim all[RG_MAX_RANK];
    int total = 0;
    for (uint32_t i = 0; i < cx->node->ninputs; i++) {
        rg_value *v = input(cx, i);
        if (!v || v->rank != 1) return;
        int n = known_elems(cx, v, all + total, RG_MAX_RANK - total);
        if (n < 0) return;
        total += n;
    }
    set_known(cx, all, total);
}

static rg_status infer_concat(infer_ctx *cx) {
    rg_value *first = input(cx, 0);
    const rg_attr *axis_attr = rg_node_attr(cx->node, "axis");
    if (!axis_attr || axis_attr->kind != RG_ATTR_INT)
        return fail(cx, RG_ERR_INVALID_MODEL, "attribute 'axis' is missing or not an int");
    int rank = -1;
    for (uint32_t i = 0; i < cx->node->ninputs; i++) {
        rg_value *v = input(cx, i);
        if (!v) return fail(cx, RG_ERR_INVALID_MODEL, "input %u is missing", i);
        RG_TRY(require_same_dtype(cx, first, v));
        if (v->rank < 0) continue;
        if (rank >= 0 && v->rank != rank)
            return fail(cx, RG_ERR_SHAPE, "inputs have ranks %d and %d", rank, v->rank);
        rank = v->rank;
    }
    if (rank < 0) {
        shape u = shape_unknown();
        return set_output(cx, 0, first->dtype, &u);
    }
    if (rank == 0) return fail(cx, RG_ERR_SHAPE, "cannot concatenate scalars");
    int axis;
    RG_TRY(norm_axis(cx, axis_attr->i, rank, false, &axis));
    shape r = shape_of_rank(rank);
    rg_dim sum = rg_dim_const(0);
    bool have[RG_MAX_RANK] = {false};
    for (uint32_t i = 0; i < cx->node->ninputs; i++) {
        rg_value *v = input(cx, i);
        if (v->rank < 0) {
            sum = rg_dim_unknown();
            continue;
        }
        sum = rg_dim_add(&sum, &v->dims[axis]);
        for (int d = 0; d < rank; d++) {
            if (d == axis) continue;
            if (!have[d]) r.dims[d] = v->dims[d];
            else RG_TRY(unify_dim(cx, &r.dims[d], &v->dims[d], "concatenated inputs'", &r.dims[d]));
            have[d] = true;
        }
    }
    r.dims[axis] = sum;
    RG_TRY(set_output(cx, 0, first->dtype, &r));
    if (rank == 1) fold_known_concat(cx);
    return RG_OK;
}

/* Split sizes: 'split' attribute before opset 13, input from 13; without
 * them equal parts over the outputs, or 'num_outputs' parts from opset 18
 * where the last part may be smaller. */
static rg_status infer_split(infer_ctx *cx) {
    rg_value *x = input(cx, 0), *sizes_in = input(cx, 1);
    uint32_t nout = cx->node->noutputs;
    int64_t axis_attr;
    RG_TRY(attr_int(cx, "axis", 0, &axis_attr));
    const rg_attr *split_attr = rg_node_attr(cx->node, "split");
    const rg_attr *num_attr = rg_node_attr(cx->node, "num_outputs");
    if (cx->opset >= 13 && split_attr)
        return fail(cx, RG_ERR_INVALID_MODEL, "attribute 'split' is not allowed at opset %d; split is an input",
                    cx->opset);
    if (cx->opset < 13 && sizes_in)
        return fail(cx, RG_ERR_INVALID_MODEL, "input 'split' is not allowed at opset %d", cx->opset);
    if (num_attr && cx->opset < 18)
        return fail(cx, RG_ERR_INVALID_MODEL, "attribute 'num_outputs' is not allowed at opset %d", cx->opset);
    if (num_attr && (num_attr->kind != RG_ATTR_INT || num_attr->i != (int64_t)nout))
        return fail(cx, RG_ERR_INVALID_MODEL, "num_outputs does not match the %u outputs", nout);
    if (split_attr && split_attr->kind != RG_ATTR_INTS)
        return fail(cx, RG_ERR_INVALID_MODEL, "attribute 'split' is not ints");
    if (sizes_in) RG_TRY(require_index_dtype(cx, sizes_in));
    const rg_tensor *sizes_t = const_ints(sizes_in);
    bool have_sizes = split_attr || sizes_t;
    size_t nsizes = split_attr ? split_attr->count : sizes_t ? rg_tensor_numel(sizes_t) : 0;
    if (have_sizes && nsizes != nout)
        return fail(cx, RG_ERR_SHAPE, "split has %zu sizes for %u outputs", nsizes, nout);
    if (x->rank < 0) {
        shape u = shape_unknown();
        for (uint32_t o = 0; o < nout; o++) RG_TRY(set_output(cx, o, x->dtype, &u));
        return RG_OK;
    }
    int axis;
    RG_TRY(norm_axis(cx, axis_attr, x->rank, false, &axis));
    const rg_dim *d = &x->dims[axis];
    int64_t whole;
    bool whole_known = rg_dim_is_const(d, &whole);
    int64_t total = 0;
    for (uint32_t o = 0; o < nout; o++) {
        shape r = shape_of(x);
        if (have_sizes) {
            int64_t size = split_attr ? split_attr->ints[o] : tensor_int(sizes_t, o);
            if (size < 0) return fail(cx, RG_ERR_SHAPE, "split size %lld is negative", (long long)size);
            total += size;
            r.dims[axis] = rg_dim_const(size);
        } else if (sizes_in) {
            r.dims[axis] = rg_dim_unknown();
        } else if (whole_known) {
            int64_t part = num_attr ? (whole + nout - 1) / nout : whole / nout;
            if (!num_attr && whole % nout)
                return fail(cx, RG_ERR_SHAPE, "dim %lld does not split evenly into %u parts", (long long)whole,
                            nout);
            if (o + 1 == nout) part = whole - part * (int64_t)(nout - 1);
            if (part < 0) return fail(cx, RG_ERR_SHAPE, "dim %lld cannot split into %u parts", (long long)whole, nout);
            r.dims[axis] = rg_dim_const(part);
        } else {
            r.dims[axis] = rg_dim_div_const(d, nout);
        }
        RG_TRY(set_output(cx, o, x->dtype, &r));
    }
    if (have_sizes && whole_known && total != whole)
        return fail(cx, RG_ERR_SHAPE, "split sizes add up to %lld, the dim is %lld", (long long)total,
                    (long long)whole);
    return RG_OK;
}

/* One sliced axis of constant length: ONNX's clamping of start and end. */
static int64_t slice_length(int64_t dim, int64_t start, int64_t end, int64_t step) {
    if (step < -INT64_MAX) step = -INT64_MAX;
    if (start < 0) start += dim;
    if (end < 0) end += dim;
    if (step > 0) {
        start = start < 0 ? 0 : start > dim ? dim : start;
        end = end < 0 ? 0 : end > dim ? dim : end;
        return end > start ? (end - start - 1) / step + 1 : 0;
    }
    start = start < 0 ? 0 : start > dim - 1 ? dim - 1 : start;
    end = end < -1 ? -1 : end > dim - 1 ? dim - 1 : end;
    return start > end ? (start - end - 1) / -step + 1 : 0;
}

typedef struct slice_params {
    int n;
    int64_t start[RG_MAX_RANK], end[RG_MAX_RANK], step[RG_MAX_RANK];
    int axis[RG_MAX_RANK];
} slice_params;

/* Reads Slice's constant starts/ends/axes/steps; false when any given one
 * is not constant. */
static rg_status read_slice_params(infer_ctx *cx, int rank, slice_params *p, bool *known) {
    const rg_tensor *t[4];
    *known = false;
    for (uint32_t i = 1; i < 5; i++) {
        rg_value *v = input(cx, i);
        if (v) RG_TRY(require_index_dtype(cx, v));
        t[i - 1] = const_ints(v);
        if (v && !t[i - 1]) return RG_OK;
    }
    size_t n = rg_tensor_numel(t[0]);
    if (rg_tensor_numel(t[1]) != n || (t[2] && rg_tensor_numel(t[2]) != n) || (t[3] && rg_tensor_numel(t[3]) != n))
        return fail(cx, RG_ERR_SHAPE, "starts, ends, axes and steps differ in length");
    if (n > (size_t)rank) return fail(cx, RG_ERR_SHAPE, "%zu sliced axes for rank %d", n, rank);
    bool seen[RG_MAX_RANK] = {false};
    p->n = (int)n;
    for (size_t i = 0; i < n; i++) {
        int a = (int)i;
        if (t[2]) RG_TRY(norm_axis(cx, tensor_int(t[2], i), rank, false, &a));
        if (seen[a]) return fail(cx, RG_ERR_SHAPE, "axis %d is sliced twice", a);
        seen[a] = true;
        p->axis[i] = a;
        p->start[i] = tensor_int(t[0], i);
        p->end[i] = tensor_int(t[1], i);
        p->step[i] = t[3] ? tensor_int(t[3], i) : 1;
        if (p->step[i] == 0) return fail(cx, RG_ERR_SHAPE, "slice step is 0");
    }
    *known = true;
    return RG_OK;
}

/* A known 1-D vector sliced along its only axis. */
static void fold_known_slice(infer_ctx *cx, const rg_value *x, const slice_params *p) {
    rg_dim elems[RG_MAX_RANK], r[RG_MAX_RANK];
    int n = known_elems(cx, x, elems, RG_MAX_RANK);
    if (n < 0 || x->rank != 1) return;
    int64_t start = 0, end = n, step = 1;
    if (p->n == 1) {
        start = p->start[0];
        end = p->end[0];
        step = p->step[0];
    }
    int64_t len = slice_length(n, start, end, step);
    if (start < 0) start += n;
    start = step > 0 ? (start < 0 ? 0 : start > n ? n : start) : (start < 0 ? 0 : start > n - 1 ? n - 1 : start);
    for (int64_t i = 0; i < len; i++) r[i] = elems[start + i * step];
    set_known(cx, r, (int)len);
}

/* The one symbol a dim is, or 0. */
static uint16_t single_symbol(const rg_dim *d) {
    if (d->unknown || d->nterms != 1 || d->constant != 0 || d->term[0].coef != 1 || d->term[0].sym[1] != 0)
        return 0;
    return d->term[0].sym[0];
}

/* Exporters slice tables to the sequence length: position_ids[:, :S] of a
 * constant [1, 512] buffer. The true length is min(S, 512); ragged takes it as
 * S and records the bound S <= 512 on the graph, which the executors check
 * when inputs are bound, so a longer input is a clear error at the edge
 * rather than a broadcast failure deep inside. Only prefixes (start 0, step
 * 1) of constant dims with a plain-symbol end are read this way. */
static rg_status slice_symbolic_prefix(infer_ctx *cx, const rg_value *x, shape *r, bool *done) {
    *done = false;
    const rg_tensor *starts = const_ints(input(cx, 1));
    rg_value *axes_in = input(cx, 3), *steps_in = input(cx, 4);
    const rg_tensor *axes = const_ints(axes_in), *steps = const_ints(steps_in);
    rg_dim ends[RG_MAX_RANK];
    int n = known_elems(cx, input(cx, 2), ends, RG_MAX_RANK);
    if (!starts || n <= 0 || (axes_in && !axes) || (steps_in && !steps) || rg_tensor_numel(starts) != (size_t)n ||
        (axes && rg_tensor_numel(axes) != (size_t)n) || (steps && rg_tensor_numel(steps) != (size_t)n) ||
        n > x->rank)
        return RG_OK;
    shape out = shape_of(x);
    rg_dim_bound pending[RG_MAX_RANK];
    int npending = 0;
    for (int i = 0; i < n; i++) {
        int a = i;
        if (axes) RG_TRY(norm_axis(cx, tensor_int(axes, (size_t)i), x->rank, false, &a));
        int64_t dim, end;
        uint16_t sym = single_symbol(&ends[i]);
        if (tensor_int(starts, (size_t)i) != 0 || (steps && tensor_int(steps, (size_t)i) != 1) ||
            !rg_dim_is_const(&x->dims[a], &dim))
            return RG_OK;
        if (rg_dim_is_const(&ends[i], &end)) {
            out.dims[a] = rg_dim_const(slice_length(dim, 0, end, 1));
        } else if (sym) {
            out.dims[a] = ends[i];
            pending[npending++] = (rg_dim_bound){sym, dim};
        } else {
            return RG_OK;
        }
    }
    for (int i = 0; i < npending; i++) RG_TRY(rg_graph_bound_symbol(cx->g, pending[i].sym, pending[i].max, cx->err));
    *r = out;
    *done = true;
    return RG_OK;
}

static rg_status infer_slice(infer_ctx *cx) {
    rg_value *x = input(cx, 0);
    if (x->rank < 0) {
        shape u = shape_unknown();
        return set_output(cx, 0, x->dtype, &u);
    }
    slice_params p;
    bool known;
    RG_TRY(read_slice_params(cx, x->rank, &p, &known));
    if (!known) {
        shape prefix;
        bool done;
        RG_TRY(slice_symbolic_prefix(cx, x, &prefix, &done));
        if (done) return set_output(cx, 0, x->dtype, &prefix);
        /* starts or ends come at run time: only the sliced axes become
         * unknown, when axes are constant (or absent, meaning the first n) */
        shape r = shape_of(x);
        rg_value *axes_in = input(cx, 3);
        const rg_tensor *axes = const_ints(axes_in);
        int64_t n = axes ? (int64_t)rg_tensor_numel(axes) : vector_length(input(cx, 1));
        if ((axes_in && !axes) || n < 0 || n > x->rank) r = shape_of_rank(x->rank);
        for (int64_t i = 0; i < n && r.rank == x->rank; i++) {
            int a = (int)i;
            if (axes) RG_TRY(norm_axis(cx, tensor_int(axes, (size_t)i), x->rank, false, &a));
            r.dims[a] = rg_dim_unknown();
        }
        return set_output(cx, 0, x->dtype, &r);
    }
    shape r = shape_of(x);
    for (int i = 0; i < p.n; i++) {
        rg_dim *d = &r.dims[p.axis[i]];
        int64_t c;
        if (rg_dim_is_const(d, &c)) *d = rg_dim_const(slice_length(c, p.start[i], p.end[i], p.step[i]));
        else if (!(p.start[i] == 0 && p.step[i] == 1 && p.end[i] >= INT32_MAX))
            *d = rg_dim_unknown(); /* only the whole of a symbolic dim is known */
    }
    RG_TRY(set_output(cx, 0, x->dtype, &r));
    fold_known_slice(cx, x, &p);
    return RG_OK;
}

/* Gather of constant indices from a known vector, as in Shape -> Gather. */
static rg_status fold_known_gather(infer_ctx *cx, const rg_value *x, const rg_value *idx) {
    rg_dim elems[RG_MAX_RANK], r[RG_MAX_RANK];
    int n = known_elems(cx, x, elems, RG_MAX_RANK);
    const rg_tensor *t = const_ints(idx);
    if (n < 0 || x->rank != 1 || !t || rg_tensor_numel(t) > RG_MAX_RANK) return RG_OK;
    size_t count = rg_tensor_numel(t);
    for (size_t i = 0; i < count; i++) {
        int64_t k = tensor_int(t, i);
        if (k < -n || k >= n)
            return fail(cx, RG_ERR_SHAPE, "index %lld is out of range for a dim of %d", (long long)k, n);
        r[i] = elems[k < 0 ? k + n : k];
    }
    set_known(cx, r, (int)count);
    return RG_OK;
}

static rg_status infer_gather(infer_ctx *cx) {
    rg_value *x = input(cx, 0), *idx = input(cx, 1);
    RG_TRY(require_index_dtype(cx, idx));
    int64_t axis_attr;
    RG_TRY(attr_int(cx, "axis", 0, &axis_attr));
    if (x->rank == 0) return fail(cx, RG_ERR_SHAPE, "cannot gather from a scalar");
    if (x->rank < 0 || idx->rank < 0) {
        shape u = shape_of_rank(x->rank >= 0 && idx->rank >= 0 ? x->rank + idx->rank - 1 : -1);
        return set_output(cx, 0, x->dtype, &u);
    }
    int axis;
    RG_TRY(norm_axis(cx, axis_attr, x->rank, false, &axis));
    RG_TRY(check_rank(cx, (int64_t)x->rank + idx->rank - 1));
    shape r = shape_unknown();
    r.rank = 0;
    for (int i = 0; i < axis; i++) r.dims[r.rank++] = x->dims[i];
    for (int i = 0; i < idx->rank; i++) r.dims[r.rank++] = idx->dims[i];
    for (int i = axis + 1; i < x->rank; i++) r.dims[r.rank++] = x->dims[i];
    RG_TRY(set_output(cx, 0, x->dtype, &r));
    return fold_known_gather(cx, x, idx);
}

static rg_status infer_gather_elements(infer_ctx *cx) {
    rg_value *x = input(cx, 0), *idx = input(cx, 1);
    RG_TRY(require_index_dtype(cx, idx));
    if (x->rank >= 0 && idx->rank >= 0 && x->rank != idx->rank)
        return fail(cx, RG_ERR_SHAPE, "data has rank %d, indices rank %d; they must match", x->rank, idx->rank);
    int rank = x->rank >= 0 ? x->rank : idx->rank;
    int64_t axis_attr;
    RG_TRY(attr_int(cx, "axis", 0, &axis_attr));
    if (rank >= 0) {
        int a;
        RG_TRY(norm_axis(cx, axis_attr, rank, false, &a));
    }
    shape r = idx->rank >= 0 ? shape_of(idx) : shape_of_rank(rank);
    return set_output(cx, 0, x->dtype, &r);
}

/* GatherND: indices[:-1] + data[batch_dims + k:], k = indices[-1]. */
static rg_status infer_gather_nd(infer_ctx *cx) {
    rg_value *x = input(cx, 0), *idx = input(cx, 1);
    if (idx->dtype != RG_DTYPE_I64)
        return fail(cx, RG_ERR_DTYPE, "indices '%s' is %s; int64 is required", idx->name, rg_dtype_name(idx->dtype));
    int64_t batch;
    RG_TRY(attr_int(cx, "batch_dims", 0, &batch));
    int64_t k;
    if (x->rank < 0 || idx->rank < 0 || idx->rank == 0 || !rg_dim_is_const(&idx->dims[idx->rank - 1], &k)) {
        if (idx->rank == 0) return fail(cx, RG_ERR_SHAPE, "indices must have rank 1 or more");
        shape u = shape_unknown();
        return set_output(cx, 0, x->dtype, &u);
    }
    if (batch < 0 || batch >= idx->rank || batch >= x->rank)
        return fail(cx, RG_ERR_SHAPE, "batch_dims %lld does not fit ranks %d and %d", (long long)batch, x->rank,
                    idx->rank);
    if (k < 1 || k > x->rank - batch)
        return fail(cx, RG_ERR_SHAPE, "index tuples of length %lld do not fit data of rank %d", (long long)k,
                    x->rank);
    int64_t rank = idx->rank - 1 + x->rank - k - batch;
    RG_TRY(check_rank(cx, rank));
    shape r = shape_unknown();
    r.rank = 0;
    for (int i = 0; i < idx->rank - 1; i++) r.dims[r.rank++] = idx->dims[i];
    for (int64_t i = batch + k; i < x->rank; i++) r.dims[r.rank++] = x->dims[i];
    return set_output(cx, 0, x->dtype, &r);
}

static rg_status infer_tile(infer_ctx *cx) {
    rg_value *x = input(cx, 0), *reps = input(cx, 1);
    RG_TRY(require_shape_vector(cx, reps));
    int64_t len = vector_length(reps);
    if (x->rank >= 0 && len >= 0 && len != x->rank)
        return fail(cx, RG_ERR_SHAPE, "repeats has %lld entries for an input of rank %d", (long long)len, x->rank);
    rg_dim elems[RG_MAX_RANK];
    int n = known_elems(cx, reps, elems, RG_MAX_RANK);
    if (x->rank < 0 || n < 0) {
        shape r = shape_of_rank(x->rank >= 0 ? x->rank : len <= RG_MAX_RANK ? (int)len : -1);
        return set_output(cx, 0, x->dtype, &r);
    }
    if (n != x->rank)
        return fail(cx, RG_ERR_SHAPE, "repeats has %d entries for an input of rank %d", n, x->rank);
    shape r = shape_of(x);
    for (int i = 0; i < n; i++) r.dims[i] = rg_dim_mul(&r.dims[i], &elems[i]);
    RG_TRY(check_sizes(cx, &r));
    return set_output(cx, 0, x->dtype, &r);
}

/* A scalar operand of Range as a double, when constant. */
static bool const_scalar(const rg_value *v, double *out) {
    if (!v->constant || rg_tensor_numel(v->constant) != 1) return false;
    *out = rg_load_as_double(v->constant->dtype, v->constant->data, 0);
    return true;
}

/* Range: max(ceil((limit - start) / delta), 0) elements. Constants give the
 * number; known integer start and limit (Range(0, S, 1) with S from Shape)
 * give (limit - start) / delta when delta is a positive constant dividing
 * every coefficient. */
static rg_status infer_range(infer_ctx *cx) {
    rg_value *start = input(cx, 0), *limit = input(cx, 1), *delta = input(cx, 2);
    RG_TRY(require_same_dtype(cx, start, limit));
    RG_TRY(require_same_dtype(cx, start, delta));
    for (uint32_t i = 0; i < 3; i++)
        if (input(cx, i)->rank > 0 && !(input(cx, i)->rank == 1 && vector_length(input(cx, i)) == 1))
            return fail(cx, RG_ERR_SHAPE, "input '%s' must be a scalar", input(cx, i)->name);
    shape r = shape_of_rank(1);
    double s, l, d;
    if (const_scalar(start, &s) && const_scalar(limit, &l) && const_scalar(delta, &d)) {
        if (d == 0) return fail(cx, RG_ERR_SHAPE, "delta is 0");
        double n = ceil((l - s) / d);
        if (!(n < (double)INT64_MAX / 2)) return fail(cx, RG_ERR_SHAPE, "range is too long");
        r.dims[0] = rg_dim_const(n > 0 ? (int64_t)n : 0);
    } else if (rg_dtype_is_integer(start->dtype)) {
        rg_dim es, el, ed;
        int64_t step;
        if (known_elems(cx, start, &es, 1) == 1 && known_elems(cx, limit, &el, 1) == 1 &&
            known_elems(cx, delta, &ed, 1) == 1 && rg_dim_is_const(&ed, &step) && step > 0) {
            rg_dim span = rg_dim_sub(&el, &es);
            /* ceil(span / step) is exact only when step divides span */
            r.dims[0] = rg_dim_div_const(&span, step);
        }
    }
    return set_output(cx, 0, start->dtype, &r);
}

/* ragged's own ops keep their rules beside their attribute conventions. */
static rg_status infer_internal(infer_ctx *cx) {
    rg_status st = rg_infer_internal(cx->g, cx->node, cx->err);
    if (st == RG_OK) return st;
    return rg_error_prefix(cx->err, st, "node %s", cx->label);
}

/* ---------------------------------------------------------- dispatch */

typedef rg_status (*infer_fn)(infer_ctx *cx);

static const infer_fn infer_table[RG_OP_COUNT] = {
#define RG_OP_INFER_(id, name, since, min_in, max_in, min_out, max_out, flags, rule) [RG_OP_##id] = infer_##rule,
    RG_OP_ALL(RG_OP_INFER_)
#undef RG_OP_INFER_
};

/* Arity and input dtypes, so that rules may index required inputs and
 * trust their dtypes. */
static rg_status check_node(infer_ctx *cx) {
    const rg_node *node = cx->node;
    const rg_op_info *info = rg_op_get(node->op);
    if (node->ninputs < info->min_inputs ||
        (info->max_inputs != RG_ARITY_ANY && node->ninputs > info->max_inputs))
        return fail(cx, RG_ERR_INVALID_MODEL, "has %u inputs; %s takes %u to %u", node->ninputs, info->name,
                    info->min_inputs, info->max_inputs);
    if (node->noutputs < info->min_outputs ||
        (info->max_outputs != RG_ARITY_ANY && node->noutputs > info->max_outputs))
        return fail(cx, RG_ERR_INVALID_MODEL, "has %u outputs; %s gives %u to %u", node->noutputs, info->name,
                    info->min_outputs, info->max_outputs);
    for (uint32_t i = 0; i < node->ninputs; i++) {
        const rg_value *v = node->inputs[i];
        if (!v) {
            if (i < info->min_inputs) return fail(cx, RG_ERR_INVALID_MODEL, "required input %u is missing", i);
            continue;
        }
        if (!rg_dtype_is_valid(v->dtype))
            return fail(cx, RG_ERR_DTYPE, "input '%s' has no known dtype", v->name);
        if (v->rank > RG_MAX_RANK || (v->rank > 0 && !v->dims))
            return fail(cx, RG_ERR_SHAPE, "input '%s' has a malformed shape", v->name);
    }
    return RG_OK;
}

static rg_status infer_with(rg_graph *g, rg_node *node, known_value *known, uint32_t nknown, rg_error *err) {
    RG_ASSERT((unsigned)node->op < RG_OP_COUNT);
    infer_ctx cx = {.g = g, .node = node, .err = err, .known = known, .nknown = nknown};
    cx.opset = node->opset > 0 ? node->opset : g->opset > 0 ? g->opset : RG_OPSET_MAX;
    rg_node_label(node, cx.label, sizeof cx.label);
    RG_TRY(check_node(&cx));
    return infer_table[node->op](&cx);
}

rg_status rg_infer_node(rg_graph *g, rg_node *node, rg_error *err) { return infer_with(g, node, NULL, 0, err); }

rg_status rg_infer_shapes_known(rg_graph *g, rg_known_value *known, uint32_t nknown, rg_error *err) {
    RG_ASSERT(nknown >= g->nvalues);
    for (uint32_t i = 0; i < nknown; i++) known[i].len = -1;
    for (uint32_t i = 0; i < g->nnodes; i++) RG_TRY(infer_with(g, g->nodes[i], known, nknown, err));
    return RG_OK;
}

rg_status rg_infer_shapes(rg_graph *g, rg_error *err) {
    uint32_t n = g->nvalues;
    known_value *known = rg_mem_calloc(g->alloc, n ? n : 1, sizeof *known);
    if (!known) return rg_error_set(err, RG_ERR_NOMEM, "out of memory for shape inference of %u values", n);
    rg_status st = rg_infer_shapes_known(g, known, n, err);
    rg_mem_free(g->alloc, known, sizeof *known * (n ? n : 1));
    return st;
}
