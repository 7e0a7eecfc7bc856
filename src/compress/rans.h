/* rans: an order-0 entropy coder for byte symbols (rANS, Duda 2013; the
 * byte-wise renormalized variant of ryg_rans), with interleaved streams.
 *
 * A message is n symbols (0..255) coded with one frequency table: freq[s]
 * sums to 1 << RANS_PROB_BITS and is > 0 for every symbol that occurs.
 * Symbol i goes to stream i % RANS_STREAMS; the streams are independent
 * rANS coders, laid out one after another, so a decoder advances all of
 * them in one loop (their dependency chains overlap in the CPU).
 *
 * Stream: the encoder runs from the last symbol to the first from state
 * RANS_L and ends by writing its 32-bit state; the decoder reads that state
 * and, after its last symbol, must be back at RANS_L with every byte used.
 * That check, and a 64-bit hash of the symbols, catch corruption: a decoder
 * of a damaged stream returns an error, never symbols it cannot vouch for.
 */
#ifndef PETIT_RANS_H
#define PETIT_RANS_H

#include <stddef.h>
#include <stdint.h>

#define RANS_PROB_BITS 15
#define RANS_STREAMS 4
#define RANS_L (1u << 23)

/* freq (256) from symbol counts: every counted symbol gets >= 1, the sum is
 * 1 << RANS_PROB_BITS. Returns -1 if there are no symbols. */
int rans_normalize(const uint64_t *count, uint32_t *freq);

/* Worst-case bytes rans_encode may write for n symbols */
size_t rans_bound(size_t n);

/* Encode sym[0..n) with freq into out (rans_bound(n) bytes). Writes the
 * streams' byte lengths into len[RANS_STREAMS]; returns the total, or 0 if a
 * symbol has frequency 0. */
size_t rans_encode(const uint8_t *sym, size_t n, const uint32_t *freq, uint8_t *out, uint32_t *len);

/* Decode n symbols from the streams (lengths len[]) of `in` (in_n bytes in
 * all) into sym. Returns 0, or -1 with pt_set_error on any inconsistency: a
 * table that does not sum to 1 << RANS_PROB_BITS, lengths that do not add
 * up, a stream that runs out or ends in the wrong state. */
int rans_decode(const uint8_t *in, size_t in_n, const uint32_t *len, const uint32_t *freq, uint8_t *sym,
                size_t n);

/* the hash stored beside a message: FNV-1a 64 of the symbols */
uint64_t rans_hash(const uint8_t *sym, size_t n);

/* zero-order entropy of the counts, in bits (n * H) */
double rans_entropy_bits(const uint64_t *count);

#endif
