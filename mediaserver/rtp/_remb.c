/* aiortc's RemoteBitrateEstimator (aiortc/rate.py) in C: see _remb.h. Each function names the
 * aiortc method it is; the arithmetic keeps Python's order of operations, and Python's
 * round() (half to even) is nearbyint() in the default rounding mode. */
#include "_remb.h"

#include <math.h>
#include <string.h>

#define BURST_DELTA_THRESHOLD_MS 5
#define MAX_ADAPT_OFFSET_MS 15
#define MIN_NUM_DELTAS 60
#define DELTA_COUNTER_MAX 1000
#define INTER_ARRIVAL_SHIFT 26
#define TIMESTAMP_GROUP_LENGTH ((5 << INTER_ARRIVAL_SHIFT) / 1000)
#define TIMESTAMP_TO_MS (1000.0 / (1 << INTER_ARRIVAL_SHIFT))
#define FEEDBACK_INTERVAL_MS 500
#define RATE_SCALE 8000

enum { NORMAL = 0, UNDERUSING = 1, OVERUSING = 2 };
enum { HOLD = 0, INCREASE = 1, DECREASE = 2 };

/* Python's float ** and pow() call libm's pow; through a pointer so that the compiler cannot
 * turn pow(x, 2.0) into x * x (libm's pow need not round exactly as the product does). */
static double (*volatile libm_pow)(double, double) = pow;

static int64_t floor_mod(int64_t a, int64_t b) {
    int64_t r = a % b;
    return r < 0 ? r + b : r;
}

static int uint32_gt(uint32_t a, uint32_t b) {
    const uint32_t half = 0x80000000u;
    return (a < b && b - a > half) || (a > b && a - b < half);
}

void remb_init(remb_state *s) {
    memset(s, 0, sizeof(*s));
    s->rate_initialized = 1;
    s->e[0][0] = 100.0;
    s->e[1][1] = 0.1;
    s->slope = 1.0 / 64;
    s->var_noise = 50.0;
    s->threshold = 12.5;
    s->var_max_kbps = 0.4;
    s->current_bitrate = 30000000;
    s->latest_throughput = 30000000;
}

/* ---- RateCounter -------------------------------------------------------------------- */

static void rate_reset(remb_state *s) {
    memset(s->counts, 0, sizeof(s->counts));
    memset(s->values, 0, sizeof(s->values));
    s->origin_index = 0;
    s->has_origin = 0;
    s->total_count = 0;
    s->total_value = 0;
}

static void rate_erase_old(remb_state *s, int64_t now_ms) {
    int64_t new_origin = now_ms - REMB_RATE_WINDOW + 1;
    if (s->origin_ms >= new_origin)
        return;
    if (new_origin - s->origin_ms >= REMB_RATE_WINDOW) {
        /* aiortc walks every millisecond of the gap; all buckets empty just the same */
        memset(s->counts, 0, sizeof(s->counts));
        memset(s->values, 0, sizeof(s->values));
        s->total_count = 0;
        s->total_value = 0;
        s->origin_index = floor_mod(s->origin_index + (new_origin - s->origin_ms), REMB_RATE_WINDOW);
        s->origin_ms = new_origin;
        return;
    }
    while (s->origin_ms < new_origin) {
        int64_t i = s->origin_index;
        s->total_count -= s->counts[i];
        s->total_value -= s->values[i];
        s->counts[i] = 0;
        s->values[i] = 0;
        s->origin_index = (i + 1) % REMB_RATE_WINDOW;
        s->origin_ms += 1;
    }
}

static void rate_add(remb_state *s, int64_t value, int64_t now_ms) {
    if (!s->has_origin) {
        s->has_origin = 1;
        s->origin_ms = now_ms;
    } else {
        rate_erase_old(s, now_ms);
    }
    int64_t i = floor_mod(s->origin_index + now_ms - s->origin_ms, REMB_RATE_WINDOW);
    s->counts[i] += 1;
    s->values[i] += value;
    s->total_count += 1;
    s->total_value += value;
}

/* 1 and *rate set, or 0 for None */
static int rate_rate(remb_state *s, int64_t now_ms, int64_t *rate) {
    if (!s->has_origin)
        return 0;
    rate_erase_old(s, now_ms);
    int64_t active = now_ms - s->origin_ms + 1;
    if (s->total_count > 0 && active > 1) {
        *rate = (int64_t)nearbyint((double)(RATE_SCALE * s->total_value) / (double)active);
        return 1;
    }
    return 0;
}

/* ---- InterArrival ------------------------------------------------------------------- */

static int belongs_to_burst(remb_state *s, uint32_t timestamp, int64_t arrival_ms) {
    uint32_t ts_delta = timestamp - s->cur_last;
    int64_t ts_delta_ms = (int64_t)nearbyint(TIMESTAMP_TO_MS * (double)ts_delta);
    int64_t arrival_delta = arrival_ms - s->cur_arrival;
    return ts_delta_ms == 0 ||
           (arrival_delta - ts_delta_ms < 0 && arrival_delta <= BURST_DELTA_THRESHOLD_MS);
}

/* 1 with the deltas set, or 0 */
static int compute_deltas(remb_state *s, uint32_t timestamp, int64_t arrival_ms, int64_t size,
                          uint32_t *d_ts, int64_t *d_arrival, int64_t *d_size) {
    int deltas = 0;
    if (!s->has_current) {
        s->has_current = 1;
        s->cur_first = s->cur_last = timestamp;
        s->cur_has_arrival = 0;
        s->cur_size = 0;
    } else if ((uint32_t)(timestamp - s->cur_first) >= 0x80000000u) {
        return 0; /* out of order */
    } else if (!belongs_to_burst(s, timestamp, arrival_ms) &&
               (uint32_t)(timestamp - s->cur_first) > TIMESTAMP_GROUP_LENGTH) {
        if (s->has_previous) {
            *d_ts = s->cur_last - s->prev_last;
            *d_arrival = s->cur_arrival - s->prev_arrival;
            *d_size = s->cur_size - s->prev_size;
            deltas = 1;
        }
        s->has_previous = 1;
        s->prev_last = s->cur_last;
        s->prev_arrival = s->cur_arrival;
        s->prev_size = s->cur_size;
        s->cur_first = s->cur_last = timestamp;
        s->cur_has_arrival = 0;
        s->cur_size = 0;
    } else if (uint32_gt(timestamp, s->cur_last)) {
        s->cur_last = timestamp;
    }
    s->cur_size += size;
    s->cur_arrival = arrival_ms;
    s->cur_has_arrival = 1;
    return deltas;
}

/* ---- OveruseEstimator --------------------------------------------------------------- */

static double update_min_frame_period(remb_state *s, double ts_delta) {
    double result = ts_delta;
    if (s->ts_count >= REMB_MIN_FRAME_HISTORY) {
        s->ts_head = (s->ts_head + 1) % REMB_MIN_FRAME_HISTORY;
        s->ts_count -= 1;
    }
    for (int n = 0; n < s->ts_count; n++) {
        double old = s->ts_hist[(s->ts_head + n) % REMB_MIN_FRAME_HISTORY];
        if (old < result) /* Python's min(old, result) keeps `old` only when smaller */
            result = old;
    }
    s->ts_hist[(s->ts_head + s->ts_count) % REMB_MIN_FRAME_HISTORY] = ts_delta;
    s->ts_count += 1;
    return result;
}

static void update_noise_estimate(remb_state *s, double residual, double ts_delta) {
    double alpha = 0.01;
    if (s->num_of_deltas > 10 * 30)
        alpha = 0.002;
    double beta = libm_pow(1 - alpha, ts_delta * 30.0 / 1000.0);
    s->avg_noise = beta * s->avg_noise + (1 - beta) * residual;
    s->var_noise = beta * s->var_noise + (1 - beta) * libm_pow(s->avg_noise - residual, 2.0);
    if (s->var_noise < 1)
        s->var_noise = 1;
}

static void estimator_update(remb_state *s, int64_t time_delta_ms, double timestamp_delta_ms,
                             int64_t size_delta, int hypothesis) {
    double min_frame_period = update_min_frame_period(s, timestamp_delta_ms);
    double t_ts_delta = (double)time_delta_ms - timestamp_delta_ms;
    double h0 = (double)size_delta, h1 = 1.0;
    s->num_of_deltas = s->num_of_deltas + 1 < DELTA_COUNTER_MAX ? s->num_of_deltas + 1
                                                                : DELTA_COUNTER_MAX;
    s->e[0][0] += 1e-13;
    s->e[1][1] += 1e-3;
    if ((hypothesis == OVERUSING && s->offset < s->previous_offset) ||
        (hypothesis == UNDERUSING && s->offset > s->previous_offset))
        s->e[1][1] += 10 * 1e-3;
    double eh0 = s->e[0][0] * h0 + s->e[0][1] * h1;
    double eh1 = s->e[1][0] * h0 + s->e[1][1] * h1;
    double residual = t_ts_delta - s->slope * h0 - s->offset;
    if (hypothesis == NORMAL) {
        double max_residual = 3.0 * sqrt(s->var_noise);
        if (fabs(residual) < max_residual)
            update_noise_estimate(s, residual, min_frame_period);
        else
            update_noise_estimate(s, residual < 0 ? -max_residual : max_residual,
                                  min_frame_period);
    }
    double denom = s->var_noise + h0 * eh0 + h1 * eh1;
    double k0 = eh0 / denom, k1 = eh1 / denom;
    double ikh00 = 1.0 - k0 * h0, ikh01 = -k0 * h1;
    double ikh10 = -k1 * h0, ikh11 = 1.0 - k1 * h1;
    double e00 = s->e[0][0], e01 = s->e[0][1];
    s->e[0][0] = e00 * ikh00 + s->e[1][0] * ikh01;
    s->e[0][1] = e01 * ikh00 + s->e[1][1] * ikh01;
    s->e[1][0] = e00 * ikh10 + s->e[1][0] * ikh11;
    s->e[1][1] = e01 * ikh10 + s->e[1][1] * ikh11;
    s->previous_offset = s->offset;
    s->slope += k0 * residual;
    s->offset += k1 * residual;
}

/* ---- OveruseDetector ---------------------------------------------------------------- */

static void update_threshold(remb_state *s, double modified_offset, int64_t now_ms) {
    if (!s->has_det_update) {
        s->has_det_update = 1;
        s->det_last_update_ms = now_ms;
    }
    if (fabs(modified_offset) > s->threshold + MAX_ADAPT_OFFSET_MS) {
        s->det_last_update_ms = now_ms;
        return;
    }
    double k = fabs(modified_offset) < s->threshold ? 0.039 : 0.0087;
    int64_t dt = now_ms - s->det_last_update_ms;
    if (dt > 100)
        dt = 100;
    s->threshold += k * (fabs(modified_offset) - s->threshold) * (double)dt;
    if (s->threshold > 600)
        s->threshold = 600;
    if (s->threshold < 6) /* Python: max(6, min(threshold, 600)) */
        s->threshold = 6;
    s->det_last_update_ms = now_ms;
}

static void detect(remb_state *s, double offset, double timestamp_delta_ms,
                   int64_t num_of_deltas, int64_t now_ms) {
    if (num_of_deltas < 2)
        return;
    double t = (double)(num_of_deltas < MIN_NUM_DELTAS ? num_of_deltas : MIN_NUM_DELTAS) * offset;
    if (t > s->threshold) {
        if (!s->has_overuse_time) {
            s->has_overuse_time = 1;
            s->overuse_time = timestamp_delta_ms / 2;
        } else {
            s->overuse_time += timestamp_delta_ms;
        }
        s->overuse_counter += 1;
        if (s->overuse_time > 10 && s->overuse_counter > 1 && offset >= s->det_previous_offset) {
            s->overuse_counter = 0;
            s->overuse_time = 0;
            s->hypothesis = OVERUSING;
        }
    } else if (t < -s->threshold) {
        s->overuse_counter = 0;
        s->has_overuse_time = 0;
        s->hypothesis = UNDERUSING;
    } else {
        s->overuse_counter = 0;
        s->has_overuse_time = 0;
        s->hypothesis = NORMAL;
    }
    s->det_previous_offset = offset;
    update_threshold(s, t, now_ms);
}

/* ---- AimdRateControl ---------------------------------------------------------------- */

static int64_t near_max_rate_increase(remb_state *s) {
    double bits_per_frame = (double)s->current_bitrate / 30;
    double packets_per_frame = ceil(bits_per_frame / (8 * 1200));
    double avg_packet_size_bits = packets_per_frame > 0 ? bits_per_frame / packets_per_frame : 0;
    int64_t increase = (int64_t)(avg_packet_size_bits * 1000 / (200 + 100));
    return increase > 4000 ? increase : 4000;
}

static int64_t multiplicative_rate_increase(remb_state *s, int64_t new_bitrate, int64_t now_ms) {
    double alpha = 1.08;
    if (s->has_last_change) {
        int64_t elapsed = now_ms - s->last_change_ms;
        if (elapsed > 1000)
            elapsed = 1000;
        alpha = libm_pow(alpha, (double)elapsed / 1000);
    }
    double increase = (alpha - 1) * (double)new_bitrate;
    return increase >= 1000 ? (int64_t)increase : 1000;
}

static void update_max_throughput_estimate(remb_state *s, double kbps) {
    const double alpha = 0.05;
    if (!s->has_avg_max) {
        s->has_avg_max = 1;
        s->avg_max_kbps = kbps;
    } else {
        s->avg_max_kbps = (1 - alpha) * s->avg_max_kbps + alpha * kbps;
    }
    double norm = s->avg_max_kbps > 1 ? s->avg_max_kbps : 1;
    s->var_max_kbps = (1 - alpha) * s->var_max_kbps +
                      alpha * libm_pow(s->avg_max_kbps - kbps, 2.0) / norm;
    if (s->var_max_kbps > 2.5)
        s->var_max_kbps = 2.5;
    if (s->var_max_kbps < 0.4)
        s->var_max_kbps = 0.4;
}

static int64_t clamp_bitrate(remb_state *s, int64_t new_bitrate, int64_t throughput) {
    int64_t max_bitrate = (int64_t)(1.5 * (double)throughput) + 10000;
    if (s->current_bitrate > max_bitrate)
        max_bitrate = s->current_bitrate;
    return new_bitrate < max_bitrate ? new_bitrate : max_bitrate;
}

/* 1 and *bitrate set, or 0 for None */
static int rate_control_update(remb_state *s, int usage, int has_throughput, int64_t throughput,
                               int64_t now_ms, int64_t *bitrate) {
    if (!s->bitrate_initialized && has_throughput) {
        if (!s->has_first_throughput) {
            s->has_first_throughput = 1;
            s->first_throughput_ms = now_ms;
        } else if (now_ms - s->first_throughput_ms > 3000) {
            s->current_bitrate = throughput;
            s->bitrate_initialized = 1;
        }
    }
    if (!s->bitrate_initialized && usage != OVERUSING)
        return 0;
    if (usage == NORMAL && s->rate_state == HOLD) {
        s->last_change_ms = now_ms;
        s->has_last_change = 1;
        s->rate_state = INCREASE;
    } else if (usage == OVERUSING) {
        s->rate_state = DECREASE;
    } else if (usage == UNDERUSING) {
        s->rate_state = HOLD;
    }
    int64_t new_bitrate = s->current_bitrate;
    if (has_throughput)
        s->latest_throughput = throughput;
    else
        throughput = s->latest_throughput;
    double kbps = (double)throughput / 1000;
    if (s->rate_state == INCREASE) {
        if (s->has_avg_max) {
            double sigma = sqrt(s->var_max_kbps * s->avg_max_kbps);
            if (kbps >= s->avg_max_kbps + 3 * sigma) {
                s->near_max = 0;
                s->has_avg_max = 0;
            }
        }
        if (s->near_max)
            new_bitrate += (int64_t)((double)((now_ms - s->last_change_ms) *
                                              near_max_rate_increase(s)) /
                                     1000);
        else
            new_bitrate += multiplicative_rate_increase(s, new_bitrate, now_ms);
        s->last_change_ms = now_ms;
        s->has_last_change = 1;
    } else if (s->rate_state == DECREASE) {
        if (s->has_avg_max) {
            double sigma = sqrt(s->var_max_kbps * s->avg_max_kbps);
            if (kbps < s->avg_max_kbps - 3 * sigma)
                s->has_avg_max = 0;
        }
        update_max_throughput_estimate(s, kbps);
        s->near_max = 1;
        new_bitrate = (int64_t)nearbyint(0.85 * (double)throughput);
        s->last_change_ms = now_ms;
        s->has_last_change = 1;
        s->rate_state = HOLD;
    }
    s->current_bitrate = clamp_bitrate(s, new_bitrate, throughput);
    *bitrate = s->current_bitrate;
    return 1;
}

/* ---- RemoteBitrateEstimator.add ----------------------------------------------------- */

int remb_add(remb_state *s, int64_t arrival_ms, uint32_t abs_send_time, int64_t size,
             int64_t *bitrate) {
    uint32_t timestamp = abs_send_time << 8;
    int64_t rate;
    if (rate_rate(s, arrival_ms, &rate)) {
        s->rate_initialized = 1;
    } else if (s->rate_initialized) {
        rate_reset(s);
        s->rate_initialized = 0;
    }
    rate_add(s, size, arrival_ms);
    uint32_t d_ts = 0;
    int64_t d_arrival = 0, d_size = 0;
    if (compute_deltas(s, timestamp, arrival_ms, size, &d_ts, &d_arrival, &d_size)) {
        double timestamp_delta_ms = (double)d_ts * TIMESTAMP_TO_MS;
        estimator_update(s, d_arrival, timestamp_delta_ms, d_size, s->hypothesis);
        detect(s, s->offset, timestamp_delta_ms, s->num_of_deltas, arrival_ms);
    }
    if (!s->has_last_update || arrival_ms - s->last_update_ms > FEEDBACK_INTERVAL_MS ||
        s->hypothesis == OVERUSING) {
        int has_rate = rate_rate(s, arrival_ms, &rate);
        if (rate_control_update(s, s->hypothesis, has_rate, rate, arrival_ms, bitrate)) {
            s->has_last_update = 1;
            s->last_update_ms = arrival_ms;
            return 1;
        }
    }
    return 0;
}
