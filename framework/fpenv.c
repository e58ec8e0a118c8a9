/* fpenv.c - FTZ/DAZ scopes for rnnc's float32 kernels (fpenv.h). */
#include "framework/fpenv.h"

#include <stdatomic.h>

#if defined(__x86_64__) || defined(_M_X64) || (defined(__i386__) && defined(__SSE__))
#include <xmmintrin.h>
#define FPENV_X86 1
#define FPENV_FLUSH_BITS 0x8040u /* FTZ (bit 15) | DAZ (bit 6) */
#define FPENV_STATUS_BITS 0x3Fu  /* the sticky exception flags: kept as the kernel left them */
static unsigned long fp_get(void) { return _mm_getcsr(); }
static void fp_set(unsigned long v) { _mm_setcsr((unsigned)v); }
#elif defined(__aarch64__)
#define FPENV_ARM64 1
#define FPENV_FLUSH_BITS (1ul << 24) /* FPCR.FZ */
#define FPENV_STATUS_BITS 0ul         /* FPCR holds no flags (they are in FPSR) */
static unsigned long fp_get(void)
{
    unsigned long v;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(v));
    return v;
}
static void fp_set(unsigned long v) { __asm__ __volatile__("msr fpcr, %0" : : "r"(v)); }
#endif

static atomic_bool flush_on = true;

void (*rnnc__flush_probe)(void) = 0;

void rnnc_set_flush_denormals(bool on) { atomic_store(&flush_on, on); }

bool rnnc_flush_denormals(void) { return atomic_load(&flush_on); }

#ifdef FPENV_FLUSH_BITS
bool rnnc_flush_denormals_supported(void) { return true; }

bool rnnc_fpenv_flushing(void) { return (fp_get() & FPENV_FLUSH_BITS) == FPENV_FLUSH_BITS; }

rnnc__fp_scope rnnc__flush_begin(void)
{
    rnnc__fp_scope s = {0, false};
    if (!atomic_load_explicit(&flush_on, memory_order_relaxed))
        return s;
    s.saved = fp_get();
    if ((s.saved & FPENV_FLUSH_BITS) != FPENV_FLUSH_BITS) {
        fp_set(s.saved | FPENV_FLUSH_BITS);
        s.changed = true;
    }
    if (rnnc__flush_probe)
        rnnc__flush_probe();
    return s;
}

void rnnc__flush_end(rnnc__fp_scope s)
{
    if (s.changed) /* the caller's control bits, the flags raised meanwhile */
        fp_set((s.saved & ~(unsigned long)FPENV_STATUS_BITS) | (fp_get() & FPENV_STATUS_BITS));
}
#else
bool rnnc_flush_denormals_supported(void) { return false; }
bool rnnc_fpenv_flushing(void) { return false; }
rnnc__fp_scope rnnc__flush_begin(void)
{
    rnnc__fp_scope s = {0, false};
    return s;
}
void rnnc__flush_end(rnnc__fp_scope s) { (void)s; }
#endif
