/* links: common */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/nice.h"

typedef struct probe {
    int raise;
    int before, after;
    int rc;
} probe;

static void *raise_in_thread(void *arg)
{
    probe *p = arg;
    p->before = ls_nice_get();
    p->rc = ls_nice_thread(p->raise);
    p->after = ls_nice_get();
    return NULL;
}

static probe run_probe(int raise)
{
    probe p = {.raise = raise};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, raise_in_thread, &p), 0);
    pthread_join(t, NULL);
    return p;
}

/* Only the calling thread yields; the caller of the thread keeps its priority. */
static void test_raises_only_the_calling_thread(void **state)
{
    (void)state;
    int main_before = ls_nice_get();
    probe p = run_probe(3);
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.after, p.before + 3 > 19 ? 19 : p.before + 3);
    assert_int_equal(ls_nice_get(), main_before);
}

static void test_capped_at_19_and_zero_is_nothing(void **state)
{
    (void)state;
    probe p = run_probe(40);
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.after, 19);
    p = run_probe(0);
    assert_int_equal(p.after, p.before);
    p = run_probe(-5);
    assert_int_equal(p.after, p.before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raises_only_the_calling_thread),
        cmocka_unit_test(test_capped_at_19_and_zero_is_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
