/*
 * The options text of a plan ("target=sm_90 dtype=fp16 tf32=1 ..."): keys
 * match whole tokens only, so a longer key, a longer value or a key that
 * merely ends in the one asked for is not mistaken for it (the executor's
 * TF32 switch reads this). CPU only.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "runtime/plan.h"

/* The value of `key` in `text` as a string in `buf`, or NULL when absent. */
static const char *option(const char *text, const char *key, char *buf, size_t size) {
    const char *value = NULL;
    size_t length = 12345;
    if (!rg_rt_plan_option(text, key, &value, &length)) {
        cr_assert_eq(length, 12345u, "length untouched when not found");
        cr_assert_null(value, "value untouched when not found");
        return NULL;
    }
    cr_assert(length < size);
    memcpy(buf, value, length);
    buf[length] = '\0';
    return buf;
}

Test(plan_options, finds_exact_keys) {
    const char *text = "target=sm_90 dtype=fp16 optimize=2 tf32=1 gelu=erf";
    char buf[64];
    cr_assert_str_eq(option(text, "target", buf, sizeof buf), "sm_90");
    cr_assert_str_eq(option(text, "tf32", buf, sizeof buf), "1");
    cr_assert_str_eq(option(text, "gelu", buf, sizeof buf), "erf", "the last token");
    cr_assert_str_eq(option(text, "dtype", buf, sizeof buf), "fp16");
    cr_assert_null(option(text, "tf", buf, sizeof buf), "a prefix of a key is not the key");
    cr_assert_null(option(text, "f32", buf, sizeof buf), "a suffix of a key is not the key");
    cr_assert_null(option(text, "sm_90", buf, sizeof buf), "values are not keys");
    cr_assert_null(option(text, "missing", buf, sizeof buf));
}

Test(plan_options, values_are_whole_tokens) {
    char buf[64];
    cr_assert_str_eq(option("tf32=10", "tf32", buf, sizeof buf), "10", "not \"1\"");
    cr_assert_null(option("xtf32=1", "tf32", buf, sizeof buf));
    cr_assert_null(option("tf32x=1", "tf32", buf, sizeof buf));
    cr_assert_null(option("--tf32", "tf32", buf, sizeof buf));
    cr_assert_null(option("tf32", "tf32", buf, sizeof buf), "a token without '=' has no value");
    cr_assert_str_eq(option("tf32=", "tf32", buf, sizeof buf), "");
    cr_assert_str_eq(option("a=b=c", "a", buf, sizeof buf), "b=c", "the key ends at the first '='");
    cr_assert_null(option("a=b=c", "a=b", buf, sizeof buf), "a key never holds '='");
}

Test(plan_options, separators_and_repeats) {
    char buf[64];
    cr_assert_str_eq(option("  tf32=0\ttf32=1\n", "tf32", buf, sizeof buf), "1", "the last one counts");
    cr_assert_str_eq(option("dtype=bf16   tf32=0 ", "tf32", buf, sizeof buf), "0");
    cr_assert_null(option("", "tf32", buf, sizeof buf));
    cr_assert_null(option("   ", "tf32", buf, sizeof buf));
    cr_assert_null(option(NULL, "tf32", buf, sizeof buf));
    cr_assert_null(option("tf32=1", "", buf, sizeof buf));
}
