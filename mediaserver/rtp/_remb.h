/* The uplink estimator in C: aiortc's RemoteBitrateEstimator (webrtc.org's delay-based remote
 * bitrate estimator with abs-send-time: inter-arrival groups, the Kalman overuse estimator, the
 * overuse detector, AIMD rate control and the 1 s incoming rate), operation for operation, so
 * that it gives the same numbers as aiortc's Python (tests/media/test_estimator.py compares
 * them on random traces). No Python here: `_wire.c` wraps it as `Estimator`.
 *
 * aiortc's `Optional` fields are a value plus a `has_` flag; its integers are int64_t (the
 * values are milliseconds, bytes and bits per second), its floats doubles. Built with
 * -ffp-contract=off: a fused multiply-add would round differently from Python.
 */
#ifndef LIPPEJOB_REMB_H
#define LIPPEJOB_REMB_H

#include <stdint.h>

#define REMB_RATE_WINDOW 1000 /* ms: the incoming rate's window, in 1 ms buckets */
#define REMB_MIN_FRAME_HISTORY 60

typedef struct {
    /* RateCounter(1000, 8000) */
    uint32_t counts[REMB_RATE_WINDOW];
    int64_t values[REMB_RATE_WINDOW];
    int64_t origin_index, origin_ms, total_count, total_value;
    int has_origin, rate_initialized;
    /* InterArrival: the current and previous timestamp groups */
    int has_current, has_previous;
    uint32_t cur_first, cur_last, prev_last;
    int64_t cur_arrival, cur_size, prev_arrival, prev_size;
    int cur_has_arrival;
    /* OveruseEstimator */
    double e[2][2], offset, previous_offset, slope, avg_noise, var_noise;
    int64_t num_of_deltas;
    double ts_hist[REMB_MIN_FRAME_HISTORY];
    int ts_head, ts_count;
    /* OveruseDetector */
    int hypothesis; /* 0 normal, 1 underusing, 2 overusing */
    int has_det_update, has_overuse_time;
    int64_t det_last_update_ms, overuse_counter;
    double overuse_time, det_previous_offset, threshold;
    /* AimdRateControl */
    int has_avg_max, bitrate_initialized, has_first_throughput, has_last_change, near_max;
    int rate_state; /* 0 hold, 1 increase, 2 decrease */
    double avg_max_kbps, var_max_kbps;
    int64_t current_bitrate, first_throughput_ms, last_change_ms, latest_throughput;
    /* RemoteBitrateEstimator */
    int has_last_update;
    int64_t last_update_ms;
} remb_state;

void remb_init(remb_state *s);

/* A frame (or packet) of `size` bytes whose last packet arrived at `arrival_ms`, sent at
 * `abs_send_time` (24 bits, 6.18 fixed point s). Returns 1 and sets *bitrate when the estimate
 * was updated (aiortc's `add` returned a REMB), else 0. */
int remb_add(remb_state *s, int64_t arrival_ms, uint32_t abs_send_time, int64_t size,
             int64_t *bitrate);

#endif
