/* sanitizer_options.c - default AddressSanitizer options for the test
 * executables of a -DRNNC_SANITIZE=ON build; empty otherwise.
 *
 * Criterion runs each test in a child process and ignores how that child
 * exits once the test has reported its result, so LeakSanitizer's report at
 * the child's exit (exit code 23) would be printed and the test still pass.
 * With abort_on_error=1 the child dies by SIGABRT instead, which Criterion
 * reports as a crash in setup/teardown (a warning) and the executable exits
 * non-zero. ASAN_OPTIONS set by the caller still override these defaults
 * key by key.
 *
 * Linked into every test executable (tests/helpers/ is globbed). */
#if defined(__SANITIZE_ADDRESS__)
#define RNNC_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RNNC_TEST_ASAN 1
#endif
#endif

#ifdef RNNC_TEST_ASAN
const char *__asan_default_options(void);

const char *__asan_default_options(void)
{
    return "detect_leaks=1:abort_on_error=1";
}
#else
/* ISO C forbids an empty translation unit. */
typedef int rnnc_test_no_sanitizer_options;
#endif
