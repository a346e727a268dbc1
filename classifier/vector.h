/*
 * VECTOR_CLONES: a function built twice where the compiler can, for
 * x86-64-v3 (AVX2, FMA) and for the baseline, the one to run chosen when
 * the program loads. Not under clang (whose ifunc resolvers ThreadSanitizer
 * cannot run) nor in the fuzzing build.
 */
#ifndef TRIAGE_VECTOR_H
#define TRIAGE_VECTOR_H

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(TRIAGE_FUZZ)
#define VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define VECTOR_CLONES
#endif

#endif
