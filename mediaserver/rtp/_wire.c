/* The per-packet edge of the SFU in C: SRTP in, and header + SRTP + sendto out.
 *
 * `mediaserver.rtp.wire` is the interface and holds the pure-Python version of the same
 * functions; this module replaces them when it was built (`pip install` builds it where a C
 * compiler is present). What it saves per packet is interpreter work, not cryptography or
 * system calls: the Python version joins the header and payload into a new bytes object,
 * goes through pylibsrtp's Python wrapper (a cffi call, two buffer copies, two allocations)
 * and uvloop's `sendto` (address conversion, its write queue check); here the packet is
 * written once into a stack buffer, protected in place and sent.
 *
 * libsrtp is the copy inside pylibsrtp: its functions and each session's `srtp_t` reach this
 * module as addresses (see wire.py), so there is one libsrtp in the process and one state per
 * session. Everything runs on the event loop's thread with the GIL held, as aiortc's own use
 * of the same sessions does (libsrtp sessions are not thread-safe).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "_remb.h"

typedef int (*srtp_fn)(void *ctx, void *hdr, int *len);

static srtp_fn fn_protect, fn_unprotect, fn_protect_rtcp, fn_unprotect_rtcp;

/* Room for the largest packet we forward plus libsrtp's largest trailer (tag, MKI and the
 * SRTCP index: 4 + 16 + 128). */
#define MAX_PACKET 2048
#define MAX_TRAILER 148

/* ---- Egress: one peer connection's way out ------------------------------------------- */

typedef struct {
    PyObject_HEAD
    void *ctx;          /* srtp_t of the sending session */
    PyObject *session;  /* the pylibsrtp.Session that owns ctx: kept alive */
    int fd;             /* our own duplicate of the selected pair's socket, or -1 */
    struct sockaddr_storage addr;
    socklen_t addrlen;
} Egress;

static int parse_addr(PyObject *host, int port, struct sockaddr_storage *out, socklen_t *len) {
    const char *text = PyUnicode_AsUTF8(host);
    if (text == NULL)
        return -1;
    if (port < 1 || port > 65535) {
        PyErr_SetString(PyExc_ValueError, "port out of range");
        return -1;
    }
    memset(out, 0, sizeof(*out));
    struct sockaddr_in *v4 = (struct sockaddr_in *)out;
    if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *len = sizeof(*v4);
        return 0;
    }
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
    if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*v6);
        return 0;
    }
    PyErr_SetString(PyExc_ValueError, "not a numeric IP address");
    return -1;
}

static int egress_init(Egress *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"session", "ctx", "fd", "host", "port", NULL};
    PyObject *session, *host;
    unsigned long long ctx;
    int fd, port;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OKiUi", kwlist, &session, &ctx, &fd, &host,
                                     &port))
        return -1;
    if (ctx == 0) {
        PyErr_SetString(PyExc_ValueError, "no SRTP session");
        return -1;
    }
    struct sockaddr_storage addr;
    socklen_t addrlen = 0;
    if (parse_addr(host, port, &addr, &addrlen) < 0)
        return -1;
    int copy = dup(fd);
    if (copy < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    if (self->fd >= 0)
        close(self->fd);
    Py_XSETREF(self->session, Py_NewRef(session));
    self->ctx = (void *)(uintptr_t)ctx;
    self->fd = copy;
    self->addr = addr;
    self->addrlen = addrlen;
    return 0;
}

static PyObject *egress_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    Egress *self = (Egress *)type->tp_alloc(type, 0);
    if (self != NULL) {
        self->fd = -1;
        self->ctx = NULL;
        self->session = NULL;
    }
    return (PyObject *)self;
}

static void egress_dealloc(Egress *self) {
    if (self->fd >= 0)
        close(self->fd);
    Py_XDECREF(self->session);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int send_protected(Egress *self, unsigned char *buf, int len, srtp_fn protect) {
    if (self->fd < 0 || protect == NULL)
        return 0;
    if (protect(self->ctx, buf, &len) != 0)
        return 0;
    ssize_t sent = sendto(self->fd, buf, (size_t)len, MSG_DONTWAIT, (struct sockaddr *)&self->addr,
                          self->addrlen);
    return sent == (ssize_t)len;
}

/* rtp(first, second, seq, timestamp, ssrc, extension, head, data, start) -> bool
 * Writes the 12-byte header, the extension block, `head` (a rewritten payload descriptor,
 * usually empty) and data[start:], protects and sends it. False when it could not be sent
 * (no room in the socket buffer, an SRTP error, a packet too large): the caller counts it. */
static PyObject *egress_rtp(Egress *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 9) {
        PyErr_SetString(PyExc_TypeError, "rtp() takes 9 arguments");
        return NULL;
    }
    unsigned long first = PyLong_AsUnsignedLong(args[0]);
    unsigned long second = PyLong_AsUnsignedLong(args[1]);
    unsigned long seq = PyLong_AsUnsignedLong(args[2]);
    unsigned long ts = PyLong_AsUnsignedLong(args[3]);
    unsigned long ssrc = PyLong_AsUnsignedLong(args[4]);
    Py_ssize_t start = PyLong_AsSsize_t(args[8]);
    if (PyErr_Occurred())
        return NULL;
    if (!PyBytes_Check(args[5]) || !PyBytes_Check(args[6]) || !PyBytes_Check(args[7])) {
        PyErr_SetString(PyExc_TypeError, "extension, head and data must be bytes");
        return NULL;
    }
    Py_ssize_t ext_len = PyBytes_GET_SIZE(args[5]);
    Py_ssize_t head_len = PyBytes_GET_SIZE(args[6]);
    Py_ssize_t data_len = PyBytes_GET_SIZE(args[7]);
    if (start < 0 || start > data_len) {
        PyErr_SetString(PyExc_ValueError, "start outside the packet");
        return NULL;
    }
    Py_ssize_t len = 12 + ext_len + head_len + (data_len - start);
    if (len > MAX_PACKET)
        Py_RETURN_FALSE;
    unsigned char buf[MAX_PACKET + MAX_TRAILER];
    buf[0] = (unsigned char)first;
    buf[1] = (unsigned char)second;
    buf[2] = (unsigned char)(seq >> 8);
    buf[3] = (unsigned char)seq;
    buf[4] = (unsigned char)(ts >> 24);
    buf[5] = (unsigned char)(ts >> 16);
    buf[6] = (unsigned char)(ts >> 8);
    buf[7] = (unsigned char)ts;
    buf[8] = (unsigned char)(ssrc >> 24);
    buf[9] = (unsigned char)(ssrc >> 16);
    buf[10] = (unsigned char)(ssrc >> 8);
    buf[11] = (unsigned char)ssrc;
    unsigned char *pos = buf + 12;
    memcpy(pos, PyBytes_AS_STRING(args[5]), (size_t)ext_len);
    pos += ext_len;
    memcpy(pos, PyBytes_AS_STRING(args[6]), (size_t)head_len);
    pos += head_len;
    memcpy(pos, PyBytes_AS_STRING(args[7]) + start, (size_t)(data_len - start));
    if (send_protected(self, buf, (int)len, fn_protect))
        Py_RETURN_TRUE;
    Py_RETURN_FALSE;
}

static PyObject *egress_rtcp(Egress *self, PyObject *packet) {
    if (!PyBytes_Check(packet)) {
        PyErr_SetString(PyExc_TypeError, "packet must be bytes");
        return NULL;
    }
    Py_ssize_t len = PyBytes_GET_SIZE(packet);
    if (len > MAX_PACKET)
        Py_RETURN_FALSE;
    unsigned char buf[MAX_PACKET + MAX_TRAILER];
    memcpy(buf, PyBytes_AS_STRING(packet), (size_t)len);
    if (send_protected(self, buf, (int)len, fn_protect_rtcp))
        Py_RETURN_TRUE;
    Py_RETURN_FALSE;
}

static PyObject *egress_close(Egress *self, PyObject *unused) {
    if (self->fd >= 0) {
        close(self->fd);
        self->fd = -1;
    }
    Py_RETURN_NONE;
}

static PyObject *egress_closed(Egress *self, void *unused) { return PyBool_FromLong(self->fd < 0); }

static PyMethodDef egress_methods[] = {
    {"rtp", (PyCFunction)(void (*)(void))egress_rtp, METH_FASTCALL,
     "rtp(first, second, seq, timestamp, ssrc, extension, head, data, start) -> bool"},
    {"rtcp", (PyCFunction)egress_rtcp, METH_O, "rtcp(packet) -> bool"},
    {"close", (PyCFunction)egress_close, METH_NOARGS, "Close our copy of the socket."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef egress_getset[] = {
    {"closed", (getter)egress_closed, NULL, "Whether close() was called.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject EgressType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mediaserver.rtp._wire.Egress",
    .tp_basicsize = sizeof(Egress),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "SRTP protection and sending on the selected candidate pair's socket.",
    .tp_new = egress_new,
    .tp_init = (initproc)egress_init,
    .tp_dealloc = (destructor)egress_dealloc,
    .tp_methods = egress_methods,
    .tp_getset = egress_getset,
};

/* ---- Ingress: unprotecting what arrives ---------------------------------------------- */

typedef struct {
    PyObject_HEAD
    void *ctx;
    PyObject *session;
} Ingress;

static int ingress_init(Ingress *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"session", "ctx", NULL};
    PyObject *session;
    unsigned long long ctx;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OK", kwlist, &session, &ctx))
        return -1;
    if (ctx == 0) {
        PyErr_SetString(PyExc_ValueError, "no SRTP session");
        return -1;
    }
    Py_XSETREF(self->session, Py_NewRef(session));
    self->ctx = (void *)(uintptr_t)ctx;
    return 0;
}

static void ingress_dealloc(Ingress *self) {
    Py_XDECREF(self->session);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *unprotect_with(Ingress *self, PyObject *packet, srtp_fn fn) {
    if (!PyBytes_Check(packet)) {
        PyErr_SetString(PyExc_TypeError, "packet must be bytes");
        return NULL;
    }
    Py_ssize_t size = PyBytes_GET_SIZE(packet);
    if (self->ctx == NULL || fn == NULL || size > MAX_PACKET + MAX_TRAILER)
        Py_RETURN_NONE;
    unsigned char buf[MAX_PACKET + MAX_TRAILER];
    memcpy(buf, PyBytes_AS_STRING(packet), (size_t)size);
    int len = (int)size;
    if (fn(self->ctx, buf, &len) != 0 || len < 0 || len > size)
        Py_RETURN_NONE; /* forged, replayed or garbage */
    return PyBytes_FromStringAndSize((const char *)buf, len);
}

static PyObject *ingress_rtp(Ingress *self, PyObject *packet) {
    return unprotect_with(self, packet, fn_unprotect);
}

static PyObject *ingress_rtcp(Ingress *self, PyObject *packet) {
    return unprotect_with(self, packet, fn_unprotect_rtcp);
}

static PyMethodDef ingress_methods[] = {
    {"rtp", (PyCFunction)ingress_rtp, METH_O, "rtp(srtp) -> plain RTP, or None"},
    {"rtcp", (PyCFunction)ingress_rtcp, METH_O, "rtcp(srtcp) -> plain RTCP, or None"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject IngressType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mediaserver.rtp._wire.Ingress",
    .tp_basicsize = sizeof(Ingress),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "SRTP and SRTCP unprotection with one receiving session.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)ingress_init,
    .tp_dealloc = (destructor)ingress_dealloc,
    .tp_methods = ingress_methods,
};

/* ---- Lane: one subscriber's rewriting of one stream, and the fan-out ----------------- */

/* The state `DownTrack` (mediaserver/rtp/downtrack.py) keeps per packet, as C members with
 * the names the Python code uses, so that both read and write the same fields. `fanout` runs
 * the steady state of `DownTrack.forward` for each lane whose `_fast` is the packet's source
 * (set by the Python code once a segment is under way, cleared at every change of source,
 * hold or restart) and hands every other packet to the lane's Python `forward`. */

typedef struct {
    PyObject_HEAD
    PyObject *fast;      /* _fast: the source forwarded in C, or None */
    PyObject *egress;    /* _egress: an Egress of this module, else the C path is not taken */
    PyObject *ext_fixed; /* _ext_fixed: the whole extension block (bytes), or None */
    PyObject *ext_head;  /* _ext_head / _ext_tail: around the abs-send-time value */
    PyObject *ext_tail;
    PyObject *last_data; /* _last_data: the last packet sent (VP8: picture id continuity) */
    int last_start;
    unsigned int x, pt, ssrc, seq_off, ts_off, first_in, next_seq, last_ts;
    double last_at;
    unsigned long long packets, octets, forwarded;
    char vp8;
} Lane;

static PyObject *lane_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    Lane *self = (Lane *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->fast = Py_NewRef(Py_None);
    self->egress = Py_NewRef(Py_None);
    self->ext_fixed = Py_NewRef(Py_None);
    self->ext_head = PyBytes_FromStringAndSize(NULL, 0);
    self->ext_tail = PyBytes_FromStringAndSize(NULL, 0);
    self->last_data = PyBytes_FromStringAndSize(NULL, 0);
    if (self->ext_head == NULL || self->ext_tail == NULL || self->last_data == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static int lane_traverse(Lane *self, visitproc visit, void *arg) {
    Py_VISIT(self->fast);
    Py_VISIT(self->egress);
    Py_VISIT(self->ext_fixed);
    Py_VISIT(self->ext_head);
    Py_VISIT(self->ext_tail);
    Py_VISIT(self->last_data);
    return 0;
}

static int lane_clear(Lane *self) {
    Py_CLEAR(self->fast);
    Py_CLEAR(self->egress);
    Py_CLEAR(self->ext_fixed);
    Py_CLEAR(self->ext_head);
    Py_CLEAR(self->ext_tail);
    Py_CLEAR(self->last_data);
    return 0;
}

static void lane_dealloc(Lane *self) {
    PyObject_GC_UnTrack(self);
    lane_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMemberDef lane_members[] = {
    {"_fast", T_OBJECT, offsetof(Lane, fast), 0, NULL},
    {"_egress", T_OBJECT, offsetof(Lane, egress), 0, NULL},
    {"_ext_fixed", T_OBJECT, offsetof(Lane, ext_fixed), 0, NULL},
    {"_ext_head", T_OBJECT, offsetof(Lane, ext_head), 0, NULL},
    {"_ext_tail", T_OBJECT, offsetof(Lane, ext_tail), 0, NULL},
    {"_last_data", T_OBJECT, offsetof(Lane, last_data), 0, NULL},
    {"_last_start", T_INT, offsetof(Lane, last_start), 0, NULL},
    {"_x", T_UINT, offsetof(Lane, x), 0, NULL},
    {"_pt", T_UINT, offsetof(Lane, pt), 0, NULL},
    {"_ssrc", T_UINT, offsetof(Lane, ssrc), 0, NULL},
    {"_seq_off", T_UINT, offsetof(Lane, seq_off), 0, NULL},
    {"_ts_off", T_UINT, offsetof(Lane, ts_off), 0, NULL},
    {"_first_in", T_UINT, offsetof(Lane, first_in), 0, NULL},
    {"_next_seq", T_UINT, offsetof(Lane, next_seq), 0, NULL},
    {"_last_ts", T_UINT, offsetof(Lane, last_ts), 0, NULL},
    {"_last_at", T_DOUBLE, offsetof(Lane, last_at), 0, NULL},
    {"_packets", T_ULONGLONG, offsetof(Lane, packets), 0, NULL},
    {"_octets", T_ULONGLONG, offsetof(Lane, octets), 0, NULL},
    {"forwarded", T_ULONGLONG, offsetof(Lane, forwarded), 0, NULL},
    {"_vp8", T_BOOL, offsetof(Lane, vp8), 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject LaneType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mediaserver.rtp._wire.Lane",
    .tp_basicsize = sizeof(Lane),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The per-packet state of a subscriber's down track (base of DownTrack).",
    .tp_new = lane_new,
    .tp_traverse = (traverseproc)lane_traverse,
    .tp_clear = (inquiry)lane_clear,
    .tp_dealloc = (destructor)lane_dealloc,
    .tp_members = lane_members,
};

static PyObject *str_forward, *str_send_failed;

/* The steady state of DownTrack.forward; 1 sent, 0 not for this path (the caller falls back
 * to Python), -1 sent and failed (the caller reports it). */
static int lane_forward(Lane *lane, const unsigned char *data, Py_ssize_t size, PyObject *data_obj,
                        unsigned int seq, unsigned int ts, Py_ssize_t start, PyObject *ast,
                        double now) {
    Egress *out = (Egress *)lane->egress;
    if (((seq - lane->first_in) & 0x8000) != 0)
        return 2; /* from before this segment began: dropped, as in Python */
    Py_ssize_t ext_len;
    if (lane->ext_fixed != Py_None) {
        if (!PyBytes_Check(lane->ext_fixed))
            return 0;
        ext_len = PyBytes_GET_SIZE(lane->ext_fixed);
    } else {
        if (!PyBytes_Check(lane->ext_head) || !PyBytes_Check(lane->ext_tail))
            return 0;
        ext_len = PyBytes_GET_SIZE(lane->ext_head) + PyBytes_GET_SIZE(ast) +
                  PyBytes_GET_SIZE(lane->ext_tail);
    }
    Py_ssize_t len = 12 + ext_len + (size - start);
    if (len > MAX_PACKET)
        return 0;
    unsigned int out_seq = (seq + lane->seq_off) & 0xFFFF;
    unsigned int out_ts = (ts + lane->ts_off) & 0xFFFFFFFFu;
    if (((out_seq - lane->next_seq) & 0x8000) == 0) {
        lane->next_seq = (out_seq + 1) & 0xFFFF;
        lane->last_ts = out_ts;
        lane->last_at = now;
    }
    if (lane->vp8) {
        Py_SETREF(lane->last_data, Py_NewRef(data_obj));
        lane->last_start = (int)start;
    }
    unsigned char buf[MAX_PACKET + MAX_TRAILER];
    buf[0] = (unsigned char)(0x80 | lane->x | (data[0] & 0x20));
    buf[1] = (unsigned char)((data[1] & 0x80) | lane->pt);
    buf[2] = (unsigned char)(out_seq >> 8);
    buf[3] = (unsigned char)out_seq;
    buf[4] = (unsigned char)(out_ts >> 24);
    buf[5] = (unsigned char)(out_ts >> 16);
    buf[6] = (unsigned char)(out_ts >> 8);
    buf[7] = (unsigned char)out_ts;
    buf[8] = (unsigned char)(lane->ssrc >> 24);
    buf[9] = (unsigned char)(lane->ssrc >> 16);
    buf[10] = (unsigned char)(lane->ssrc >> 8);
    buf[11] = (unsigned char)lane->ssrc;
    unsigned char *pos = buf + 12;
    if (lane->ext_fixed != Py_None) {
        memcpy(pos, PyBytes_AS_STRING(lane->ext_fixed), (size_t)ext_len);
        pos += ext_len;
    } else {
        PyObject *parts[3] = {lane->ext_head, ast, lane->ext_tail};
        for (int i = 0; i < 3; i++) {
            memcpy(pos, PyBytes_AS_STRING(parts[i]), (size_t)PyBytes_GET_SIZE(parts[i]));
            pos += PyBytes_GET_SIZE(parts[i]);
        }
    }
    memcpy(pos, data + start, (size_t)(size - start));
    lane->packets++;
    lane->octets += (unsigned long long)len;
    lane->forwarded++;
    return send_protected(out, buf, (int)len, fn_protect) ? 1 : -1;
}

/* fanout(lanes, source, data, seq, timestamp, start, key, ast, now) -> int
 * Each lane in `lanes` (a list, read by index: a Python `forward` may change it) gets the
 * packet: in C when its `_fast` is `source`, else through its `forward` method with the same
 * arguments. Returns how many were forwarded in C (the worker's `forwarded` counter). */
static PyObject *fanout(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 9) {
        PyErr_SetString(PyExc_TypeError, "fanout() takes 9 arguments");
        return NULL;
    }
    PyObject *lanes = args[0], *source = args[1], *data_obj = args[2], *ast = args[7];
    if (!PyList_Check(lanes) || !PyBytes_Check(data_obj) || !PyBytes_Check(ast)) {
        PyErr_SetString(PyExc_TypeError, "fanout(list, source, bytes, ..., bytes, now)");
        return NULL;
    }
    unsigned long seq = PyLong_AsUnsignedLong(args[3]);
    unsigned long ts = PyLong_AsUnsignedLong(args[4]);
    Py_ssize_t start = PyLong_AsSsize_t(args[5]);
    double now = PyFloat_AsDouble(args[8]);
    if (PyErr_Occurred())
        return NULL;
    const unsigned char *data = (const unsigned char *)PyBytes_AS_STRING(data_obj);
    Py_ssize_t size = PyBytes_GET_SIZE(data_obj);
    if (size < 12 || start < 12 || start > size) {
        PyErr_SetString(PyExc_ValueError, "not an RTP packet, or start outside it");
        return NULL;
    }
    long sent = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(lanes); i++) {
        PyObject *item = PyList_GET_ITEM(lanes, i);
        Py_INCREF(item);
        int done = 0;
        if (PyObject_TypeCheck(item, &LaneType)) {
            Lane *lane = (Lane *)item;
            if (lane->fast == source && Py_IS_TYPE(lane->egress, &EgressType) &&
                ((Egress *)lane->egress)->fd >= 0) {
                done = lane_forward(lane, data, size, data_obj, (unsigned int)seq,
                                    (unsigned int)ts, start, ast, now);
            }
        }
        if (done == 1) {
            sent++;
        } else if (done == -1) {
            sent++;
            PyObject *r = PyObject_CallMethodNoArgs(item, str_send_failed);
            Py_XDECREF(r);
            if (r == NULL) {
                Py_DECREF(item);
                return NULL;
            }
        } else if (done == 0) {
            PyObject *call[10] = {item,    args[1], args[2], args[3], args[4],
                                  args[5], args[6], args[7], args[8], NULL};
            PyObject *r = PyObject_VectorcallMethod(
                str_forward, call, 9 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
            Py_XDECREF(r);
            if (r == NULL) {
                Py_DECREF(item);
                return NULL;
            }
        }
        Py_DECREF(item);
    }
    return PyLong_FromLong(sent);
}

/* ---- Estimator: a publisher's uplink estimate (aiortc's, in _remb.c) -------------------- */

typedef struct {
    PyObject_HEAD
    remb_state state;
    int has_bitrate;
    long long bitrate;
    unsigned long long frames; /* fed so far, and the last one (for tests and debugging) */
    long long last_arrival_ms, last_size;
    unsigned long last_ast;
} Estimator;

static PyObject *estimator_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    if (PyTuple_GET_SIZE(args) != 0 || (kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0)) {
        PyErr_SetString(PyExc_TypeError, "Estimator() takes no arguments");
        return NULL;
    }
    Estimator *self = (Estimator *)type->tp_alloc(type, 0);
    if (self != NULL)
        remb_init(&self->state);
    return (PyObject *)self;
}

static void estimator_frame_c(Estimator *self, long long arrival_ms, unsigned long ast,
                              long long size) {
    int64_t bitrate;
    self->frames += 1;
    self->last_arrival_ms = arrival_ms;
    self->last_ast = ast & 0xFFFFFF;
    self->last_size = size;
    if (remb_add(&self->state, arrival_ms, (uint32_t)(ast & 0xFFFFFF), size, &bitrate)) {
        self->has_bitrate = 1;
        self->bitrate = bitrate;
    }
}

static PyObject *estimator_frame(Estimator *self, PyObject *args) {
    long long arrival_ms, size;
    unsigned long ast, ssrc;
    if (!PyArg_ParseTuple(args, "LkLk", &arrival_ms, &ast, &size, &ssrc))
        return NULL;
    estimator_frame_c(self, arrival_ms, ast, size);
    Py_RETURN_NONE;
}

static PyObject *estimator_bitrate(Estimator *self, void *closure) {
    if (!self->has_bitrate)
        Py_RETURN_NONE;
    return PyLong_FromLongLong(self->bitrate);
}

static PyObject *estimator_last_frame(Estimator *self, void *closure) {
    if (self->frames == 0)
        Py_RETURN_NONE;
    return Py_BuildValue("LkL", self->last_arrival_ms, self->last_ast, self->last_size);
}

static PyMemberDef estimator_members[] = {
    {"frames", T_ULONGLONG, offsetof(Estimator, frames), READONLY, "frames fed so far"},
    {NULL, 0, 0, 0, NULL},
};

static PyMethodDef estimator_methods[] = {
    {"frame", (PyCFunction)estimator_frame, METH_VARARGS,
     "frame(arrival_ms, abs_send_time, size, ssrc): a frame's last packet arrived."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef estimator_getset[] = {
    {"bitrate", (getter)estimator_bitrate, NULL, "the last estimate in bits/s, or None", NULL},
    {"last_frame", (getter)estimator_last_frame, NULL,
     "(arrival_ms, abs_send_time, size) of the last frame fed, or None", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject EstimatorType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mediaserver.rtp._wire.Estimator",
    .tp_doc = "A publisher's uplink estimate: aiortc's RemoteBitrateEstimator in C.",
    .tp_basicsize = sizeof(Estimator),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = estimator_new,
    .tp_methods = estimator_methods,
    .tp_members = estimator_members,
    .tp_getset = estimator_getset,
};

/* ---- Stream: a publisher's stream as it arrives (base of RtpForwarder) --------------- */

/* `_receive` is RtpForwarder.on_rtp (mediaserver/rtp/forwarder.py) in C for the common case:
 * sequence bookkeeping, the history, the counters, the keyframe test (VP8 here, other codecs
 * through `payload.keyframe_start`), abs-send-time and the fan-out. What is rare calls back
 * into the Python methods of the same name: `_lost` (a gap), `_keyframe` (a keyframe's first
 * packet), `_renack`, `_retry_keyframe`, and the uplink estimator once per frame. */

typedef struct {
    PyObject_HEAD
    PyObject *history; /* _history: list of bytes or None, a power of two long */
    PyObject *missing; /* _missing: dict seq -> [last NACK, tries, first seen] */
    PyObject *slots;   /* _slots: the down tracks (list) */
    PyObject *uplink;  /* _uplink: an Estimator, or anything with .frame(...), or None */
    PyObject *stats;   /* _stats: the worker's MediaStats */
    PyObject *keyframe_start; /* _keyframe_start: payload.keyframe_start for other codecs */
    long long cycles, received, frame_bytes, recovered;
    unsigned long long packets, bytes_received;
    int highest, base_seq, mask, codec, ast_id;
    unsigned int last_timestamp;
    double last_arrival, last_request, retry, retry_at;
    char video, muted;
} Stream;

static PyObject *str_received, *str_forwarded, *str_lost, *str_keyframe, *str_renack,
    *str_retry_keyframe;

static PyObject *stream_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    Stream *self = (Stream *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->history = PyList_New(0);
    self->missing = PyDict_New();
    self->slots = PyList_New(0);
    self->uplink = Py_NewRef(Py_None);
    self->stats = Py_NewRef(Py_None);
    self->keyframe_start = Py_NewRef(Py_None);
    self->highest = self->base_seq = -1;
    if (self->history == NULL || self->missing == NULL || self->slots == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static int stream_traverse(Stream *self, visitproc visit, void *arg) {
    Py_VISIT(self->history);
    Py_VISIT(self->missing);
    Py_VISIT(self->slots);
    Py_VISIT(self->uplink);
    Py_VISIT(self->stats);
    Py_VISIT(self->keyframe_start);
    return 0;
}

static int stream_clear(Stream *self) {
    Py_CLEAR(self->history);
    Py_CLEAR(self->missing);
    Py_CLEAR(self->slots);
    Py_CLEAR(self->uplink);
    Py_CLEAR(self->stats);
    Py_CLEAR(self->keyframe_start);
    return 0;
}

static void stream_dealloc(Stream *self) {
    PyObject_GC_UnTrack(self);
    stream_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static double clock_seconds(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The fixed header, CSRCs and extension block (the packet passed rtp.valid). */
static Py_ssize_t header_size(const unsigned char *d) {
    Py_ssize_t size = 12 + 4 * (d[0] & 0x0F);
    if (d[0] & 0x10)
        size += 4 + 4 * ((d[size + 2] << 8) | d[size + 3]);
    return size;
}

/* rtp.extension: the value of extension `id`, or NULL (length in *len). */
static const unsigned char *find_extension(const unsigned char *d, Py_ssize_t n, int id,
                                           Py_ssize_t *len) {
    if (!(d[0] & 0x10) || id <= 0)
        return NULL;
    Py_ssize_t pos = 12 + 4 * (d[0] & 0x0F);
    int profile = (d[pos] << 8) | d[pos + 1];
    Py_ssize_t end = pos + 4 + 4 * ((d[pos + 2] << 8) | d[pos + 3]);
    pos += 4;
    if (end > n)
        return NULL;
    if (profile == 0xBEDE) {
        while (pos < end) {
            int byte = d[pos];
            if (byte == 0) {
                pos++;
                continue;
            }
            int ident = byte >> 4;
            if (ident == 15)
                return NULL;
            Py_ssize_t length = (byte & 0x0F) + 1;
            if (ident == id) {
                if (pos + 1 + length > end)
                    return NULL;
                *len = length;
                return d + pos + 1;
            }
            pos += 1 + length;
        }
    } else if ((profile & 0xFFF0) == 0x1000) {
        while (pos + 1 < end) {
            int ident = d[pos];
            if (ident == 0) {
                pos++;
                continue;
            }
            Py_ssize_t length = d[pos + 1];
            if (ident == id) {
                if (pos + 2 + length > end)
                    return NULL;
                *len = length;
                return d + pos + 2;
            }
            pos += 2 + length;
        }
    }
    return NULL;
}

/* payload.keyframe_start for VP8 (RFC 7741 4.2 and 4.3, RFC 6386 9.1). */
static int vp8_keyframe_start(const unsigned char *p, Py_ssize_t n) {
    if (n < 7 || (p[0] & 0x17) != 0x10)
        return 0;
    Py_ssize_t i = 1;
    if (p[0] & 0x80) {
        int x = p[1];
        i = 2;
        if (x & 0x80)
            i += (p[2] & 0x80) ? 2 : 1;
        if (x & 0x40)
            i += 1;
        if (x & 0x30)
            i += 1;
    }
    return i + 6 <= n && !(p[i] & 0x01) && p[i + 3] == 0x9D && p[i + 4] == 0x01 &&
           p[i + 5] == 0x2A;
}

static int add_to(PyObject *obj, PyObject *name, long long amount) {
    PyObject *value = PyObject_GetAttr(obj, name);
    if (value == NULL)
        return -1;
    PyObject *more = PyLong_FromLongLong(amount);
    PyObject *sum = more == NULL ? NULL : PyNumber_Add(value, more);
    Py_DECREF(value);
    Py_XDECREF(more);
    if (sum == NULL)
        return -1;
    int result = PyObject_SetAttr(obj, name, sum);
    Py_DECREF(sum);
    return result;
}

static int call_method(PyObject *self, PyObject *name, PyObject *arg1, PyObject *arg2) {
    PyObject *args[3] = {self, arg1, arg2};
    size_t n = arg1 == NULL ? 1 : (arg2 == NULL ? 2 : 3);
    PyObject *r = PyObject_VectorcallMethod(name, args, n, NULL);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

#define VP8_CODEC 0 /* payload.VP8 */
#define NACK_MAX_GAP 128

/* rtp.valid: version 2, and long enough for what the header declares. */
static int rtp_valid(const unsigned char *d, Py_ssize_t n) {
    if (n < 12 || (d[0] & 0xC0) != 0x80)
        return 0;
    Py_ssize_t size = 12 + 4 * (d[0] & 0x0F);
    if (d[0] & 0x10) {
        if (n < size + 4)
            return 0;
        size += 4 + 4 * ((d[size + 2] << 8) | d[size + 3]);
    }
    if (size > n)
        return 0;
    if (d[0] & 0x20)
        return d[n - 1] > 0 && size + d[n - 1] <= n;
    return 1;
}

/* The history is a list of mask + 1 entries (Python may replace it: checked before use). */
static int history_fits(Stream *self) {
    return self->history != NULL && PyList_Check(self->history) &&
           PyList_GET_SIZE(self->history) == (Py_ssize_t)self->mask + 1 && self->mask >= 0;
}

static PyObject *stream_receive(Stream *self, PyObject *packet) {
    if (!PyBytes_Check(packet)) {
        PyErr_SetString(PyExc_TypeError, "packet must be bytes");
        return NULL;
    }
    const unsigned char *d = (const unsigned char *)PyBytes_AS_STRING(packet);
    Py_ssize_t n = PyBytes_GET_SIZE(packet);
    if (!rtp_valid(d, n) || !history_fits(self) || !PyDict_Check(self->missing)) {
        PyErr_SetString(PyExc_ValueError, "not an RTP packet, or the stream is not set up");
        return NULL;
    }
    self->packets++;
    if (add_to(self->stats, str_received, 1) < 0)
        return NULL;
    int seq = (d[2] << 8) | d[3];
    int highest = self->highest;
    int recovered = 0;
    if (highest < 0) {
        self->base_seq = seq;
        self->highest = seq;
    } else {
        int delta = (seq - highest) & 0xFFFF;
        if (delta == 0)
            Py_RETURN_NONE; /* a duplicate */
        if (delta < 0x8000) {
            if (seq < highest)
                self->cycles += 0x10000;
            self->highest = seq;
            if (delta > 1 && delta <= NACK_MAX_GAP) {
                PyObject *a = PyLong_FromLong(highest), *b = PyLong_FromLong(delta);
                int failed = a == NULL || b == NULL || call_method((PyObject *)self, str_lost, a, b) < 0;
                Py_XDECREF(a);
                Py_XDECREF(b);
                if (failed)
                    return NULL;
            }
        } else {
            int was_missing = 0;
            if (PyDict_GET_SIZE(self->missing) > 0) {
                PyObject *key = PyLong_FromLong(seq);
                if (key == NULL)
                    return NULL;
                PyObject *entry = PyDict_GetItemWithError(self->missing, key);
                if (entry != NULL) {
                    was_missing = 1;
                    if (PyDict_DelItem(self->missing, key) < 0) {
                        Py_DECREF(key);
                        return NULL;
                    }
                } else if (PyErr_Occurred()) {
                    Py_DECREF(key);
                    return NULL;
                }
                Py_DECREF(key);
            }
            if (!was_missing) {
                if (!history_fits(self)) {
                    PyErr_SetString(PyExc_ValueError, "the history was replaced");
                    return NULL;
                }
                PyObject *old = PyList_GET_ITEM(self->history, seq & self->mask);
                if (PyBytes_Check(old) && PyBytes_GET_SIZE(old) >= 4) {
                    const unsigned char *o = (const unsigned char *)PyBytes_AS_STRING(old);
                    if (((o[2] << 8) | o[3]) == seq)
                        Py_RETURN_NONE; /* a duplicate */
                }
            } else {
                recovered = 1;
            }
        }
    }
    if (recovered)
        self->recovered++;
    self->received++;
    self->bytes_received += (unsigned long long)n;
    if (!history_fits(self)) { /* a callback above may have replaced it */
        PyErr_SetString(PyExc_ValueError, "the history was replaced");
        return NULL;
    }
    Py_INCREF(packet);
    PyList_SetItem(self->history, seq & self->mask, packet); /* steals the reference */
    double now = clock_seconds(CLOCK_MONOTONIC);
    unsigned int timestamp = ((unsigned int)d[4] << 24) | (d[5] << 16) | (d[6] << 8) | d[7];
    self->last_timestamp = timestamp;
    self->last_arrival = now;
    int marker = (d[1] & 0x80) != 0;
    if (self->uplink != Py_None) {
        self->frame_bytes += n;
        if (marker) {
            Py_ssize_t len = 0;
            const unsigned char *ast = find_extension(d, n, self->ast_id, &len);
            if (ast != NULL && len == 3) {
                long long arrival_ms = (long long)(clock_seconds(CLOCK_REALTIME) * 1000);
                unsigned long abs_send_time = ((unsigned long)ast[0] << 16) | (ast[1] << 8) | ast[2];
                if (Py_IS_TYPE(self->uplink, &EstimatorType)) {
                    estimator_frame_c((Estimator *)self->uplink, arrival_ms, abs_send_time,
                                      self->frame_bytes);
                } else {
                    unsigned long ssrc =
                        ((unsigned long)d[8] << 24) | (d[9] << 16) | (d[10] << 8) | d[11];
                    PyObject *r = PyObject_CallMethod(self->uplink, "frame", "LkLk", arrival_ms,
                                                      abs_send_time, self->frame_bytes, ssrc);
                    Py_XDECREF(r);
                    if (r == NULL)
                        return NULL;
                }
            }
            self->frame_bytes = 0;
        }
    }
    if (self->muted)
        Py_RETURN_NONE;
    Py_ssize_t start = header_size(d);
    if (start > n) {
        PyErr_SetString(PyExc_ValueError, "header longer than the packet");
        return NULL;
    }
    int key = 1;
    PyObject *ast_now;
    if (self->video) {
        Py_ssize_t head_len = n - start < 64 ? n - start : 64;
        if (self->codec == VP8_CODEC) {
            key = vp8_keyframe_start(d + start, head_len);
        } else {
            PyObject *head = PyBytes_FromStringAndSize((const char *)d + start, head_len);
            PyObject *codec = PyLong_FromLong(self->codec);
            PyObject *r = head == NULL || codec == NULL
                              ? NULL
                              : PyObject_CallFunctionObjArgs(self->keyframe_start, codec, head, NULL);
            Py_XDECREF(head);
            Py_XDECREF(codec);
            if (r == NULL)
                return NULL;
            key = PyObject_IsTrue(r);
            Py_DECREF(r);
            if (key < 0)
                return NULL;
        }
        if (key) {
            PyObject *head = PyBytes_FromStringAndSize((const char *)d + start, head_len);
            int failed = head == NULL || call_method((PyObject *)self, str_keyframe, head, NULL) < 0;
            Py_XDECREF(head);
            if (failed)
                return NULL;
        }
        long long value = (long long)(clock_seconds(CLOCK_REALTIME) * 262144.0) & 0xFFFFFF;
        char bytes[3] = {(char)(value >> 16), (char)(value >> 8), (char)value};
        ast_now = PyBytes_FromStringAndSize(bytes, 3);
    } else {
        ast_now = PyBytes_FromStringAndSize(NULL, 0);
    }
    if (ast_now == NULL)
        return NULL;
    PyObject *seq_obj = PyLong_FromLong(seq);
    PyObject *ts_obj = PyLong_FromUnsignedLong(timestamp);
    PyObject *start_obj = PyLong_FromSsize_t(start);
    PyObject *now_obj = PyFloat_FromDouble(now);
    PyObject *result = NULL;
    if (seq_obj != NULL && ts_obj != NULL && start_obj != NULL && now_obj != NULL) {
        PyObject *call[9] = {self->slots, (PyObject *)self, packet, seq_obj, ts_obj,
                             start_obj, key ? Py_True : Py_False, ast_now, now_obj};
        Py_INCREF(self->slots);
        result = fanout(NULL, call, 9);
        Py_DECREF(call[0]);
    }
    Py_XDECREF(seq_obj);
    Py_XDECREF(ts_obj);
    Py_XDECREF(start_obj);
    Py_DECREF(ast_now);
    if (result == NULL) {
        Py_XDECREF(now_obj);
        return NULL;
    }
    long forwarded = PyLong_AsLong(result);
    Py_DECREF(result);
    if (forwarded > 0 && add_to(self->stats, str_forwarded, forwarded) < 0) {
        Py_XDECREF(now_obj);
        return NULL;
    }
    int failed = 0;
    if (marker && PyDict_Check(self->missing) && PyDict_GET_SIZE(self->missing) > 0)
        failed = call_method((PyObject *)self, str_renack, now_obj, NULL) < 0;
    if (!failed && self->video && marker && !key && now >= self->retry_at)
        failed = call_method((PyObject *)self, str_retry_keyframe, now_obj, NULL) < 0;
    Py_DECREF(now_obj);
    if (failed)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef stream_methods[] = {
    {"_receive", (PyCFunction)stream_receive, METH_O,
     "RtpForwarder.on_rtp in C (a decrypted packet that passed rtp.valid)."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef stream_members[] = {
    {"_history", T_OBJECT, offsetof(Stream, history), 0, NULL},
    {"_missing", T_OBJECT, offsetof(Stream, missing), 0, NULL},
    {"_slots", T_OBJECT, offsetof(Stream, slots), 0, NULL},
    {"_uplink", T_OBJECT, offsetof(Stream, uplink), 0, NULL},
    {"_stats", T_OBJECT, offsetof(Stream, stats), 0, NULL},
    {"_keyframe_start", T_OBJECT, offsetof(Stream, keyframe_start), 0, NULL},
    {"_cycles", T_LONGLONG, offsetof(Stream, cycles), 0, NULL},
    {"_received", T_LONGLONG, offsetof(Stream, received), 0, NULL},
    {"_frame_bytes", T_LONGLONG, offsetof(Stream, frame_bytes), 0, NULL},
    {"recovered", T_LONGLONG, offsetof(Stream, recovered), 0, NULL},
    {"packets", T_ULONGLONG, offsetof(Stream, packets), 0, NULL},
    {"bytes_received", T_ULONGLONG, offsetof(Stream, bytes_received), 0, NULL},
    {"_highest", T_INT, offsetof(Stream, highest), 0, NULL},
    {"_base_seq", T_INT, offsetof(Stream, base_seq), 0, NULL},
    {"_mask", T_INT, offsetof(Stream, mask), 0, NULL},
    {"_codec", T_INT, offsetof(Stream, codec), 0, NULL},
    {"_ast_id", T_INT, offsetof(Stream, ast_id), 0, NULL},
    {"last_timestamp", T_UINT, offsetof(Stream, last_timestamp), 0, NULL},
    {"last_arrival", T_DOUBLE, offsetof(Stream, last_arrival), 0, NULL},
    {"_last_request", T_DOUBLE, offsetof(Stream, last_request), 0, NULL},
    {"_retry", T_DOUBLE, offsetof(Stream, retry), 0, NULL},
    {"_retry_at", T_DOUBLE, offsetof(Stream, retry_at), 0, NULL},
    {"_video", T_BOOL, offsetof(Stream, video), 0, NULL},
    {"muted", T_BOOL, offsetof(Stream, muted), 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject StreamType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mediaserver.rtp._wire.Stream",
    .tp_basicsize = sizeof(Stream),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The per-packet state of a publisher's stream (base of RtpForwarder).",
    .tp_new = stream_new,
    .tp_traverse = (traverseproc)stream_traverse,
    .tp_clear = (inquiry)stream_clear,
    .tp_dealloc = (destructor)stream_dealloc,
    .tp_members = stream_members,
    .tp_methods = stream_methods,
};

/* ---- Demux: a socket's datagrams, SRTP taken straight to the streams ----------------- */

/* Set as `datagram_received` on each of a connection's aioice protocols (an instance
 * attribute, which uvloop looks up per datagram), a Demux takes SRTP and SRTCP once the keys
 * exist: unprotects, checks the RTP header (rtp.valid) and hands the packet to the route of
 * its SSRC (`routes`, the Uplink's table: RtpForwarder._receive, or an RTX unwrapper), or to
 * `on_rtp` when there is none yet (the Uplink learns it) or the packet is malformed;
 * SRTCP to `on_rtcp`. Everything else (STUN, DTLS, SRTP before the keys) goes to `fallback`,
 * aioice's own handler. A handler's exception is counted and given to `on_error`. */

typedef struct {
    PyObject_HEAD
    PyObject *ingress;  /* an Ingress of this module, or None before the keys */
    PyObject *routes;   /* dict: SSRC -> callable(packet) */
    PyObject *on_rtp;   /* callable(packet) */
    PyObject *on_rtcp;  /* callable(packet) */
    PyObject *fallback; /* callable(data, addr) */
    PyObject *on_error; /* callable(exception) */
    unsigned long long rtp_received, rtcp_received, failures;
} Demux;

static int demux_init(Demux *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"routes", "on_rtp", "on_rtcp", "fallback", "on_error", NULL};
    PyObject *routes, *on_rtp, *on_rtcp, *fallback, *on_error;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!OOOO", kwlist, &PyDict_Type, &routes,
                                     &on_rtp, &on_rtcp, &fallback, &on_error))
        return -1;
    Py_XSETREF(self->routes, Py_NewRef(routes));
    Py_XSETREF(self->on_rtp, Py_NewRef(on_rtp));
    Py_XSETREF(self->on_rtcp, Py_NewRef(on_rtcp));
    Py_XSETREF(self->fallback, Py_NewRef(fallback));
    Py_XSETREF(self->on_error, Py_NewRef(on_error));
    if (self->ingress == NULL)
        self->ingress = Py_NewRef(Py_None);
    return 0;
}

static int demux_traverse(Demux *self, visitproc visit, void *arg) {
    Py_VISIT(self->ingress);
    Py_VISIT(self->routes);
    Py_VISIT(self->on_rtp);
    Py_VISIT(self->on_rtcp);
    Py_VISIT(self->fallback);
    Py_VISIT(self->on_error);
    return 0;
}

static int demux_clear(Demux *self) {
    Py_CLEAR(self->ingress);
    Py_CLEAR(self->routes);
    Py_CLEAR(self->on_rtp);
    Py_CLEAR(self->on_rtcp);
    Py_CLEAR(self->fallback);
    Py_CLEAR(self->on_error);
    return 0;
}

static void demux_dealloc(Demux *self) {
    PyObject_GC_UnTrack(self);
    demux_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static void demux_failed(Demux *self) {
    /* A handler raised: counted, and the first few reported (as the Python path logs them). */
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    self->failures++;
    if (self->failures < 5 && self->on_error != NULL && self->on_error != Py_None && value) {
        if (tb != NULL)
            PyException_SetTraceback(value, tb);
        PyObject *r = PyObject_CallOneArg(self->on_error, value);
        if (r == NULL)
            PyErr_Clear();
        Py_XDECREF(r);
    }
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

static PyObject *demux_call(Demux *self, PyObject *args, PyObject *kwds) {
    PyObject *data, *addr;
    if (!PyArg_UnpackTuple(args, "Demux", 2, 2, &data, &addr))
        return NULL;
    const unsigned char *d = PyBytes_Check(data) ? (const unsigned char *)PyBytes_AS_STRING(data) : NULL;
    Py_ssize_t n = d ? PyBytes_GET_SIZE(data) : 0;
    if (d == NULL || n < 12 || d[0] < 128 || d[0] > 191 || !PyObject_TypeCheck(self->ingress, &IngressType))
        return PyObject_CallFunctionObjArgs(self->fallback, data, addr, NULL);
    Ingress *ingress = (Ingress *)self->ingress;
    int rtcp = d[1] > 191 && d[1] < 224; /* RTCP packet types 192-223 (RFC 5761 4) */
    PyObject *plain = unprotect_with(ingress, data, rtcp ? fn_unprotect_rtcp : fn_unprotect);
    if (plain == NULL)
        return NULL;
    if (plain == Py_None) {
        Py_DECREF(plain);
        self->failures++; /* forged, replayed or garbage: dropped */
        Py_RETURN_NONE;
    }
    PyObject *handler;
    if (rtcp) {
        self->rtcp_received++;
        handler = Py_NewRef(self->on_rtcp);
    } else {
        self->rtp_received++;
        const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(plain);
        Py_ssize_t len = PyBytes_GET_SIZE(plain);
        handler = NULL;
        if (rtp_valid(p, len)) {
            unsigned long ssrc = ((unsigned long)p[8] << 24) | (p[9] << 16) | (p[10] << 8) | p[11];
            PyObject *key = PyLong_FromUnsignedLong(ssrc);
            if (key == NULL) {
                Py_DECREF(plain);
                return NULL;
            }
            handler = PyDict_GetItemWithError(self->routes, key); /* borrowed */
            Py_DECREF(key);
            if (handler == NULL && PyErr_Occurred()) {
                Py_DECREF(plain);
                return NULL;
            }
            Py_XINCREF(handler);
        }
        if (handler == NULL)
            handler = Py_NewRef(self->on_rtp); /* to learn the SSRC, or count the garbage */
    }
    PyObject *r = PyObject_CallOneArg(handler, plain);
    Py_DECREF(handler);
    Py_DECREF(plain);
    if (r == NULL)
        demux_failed(self);
    Py_XDECREF(r);
    Py_RETURN_NONE;
}

static PyMemberDef demux_members[] = {
    {"ingress", T_OBJECT, offsetof(Demux, ingress), 0, NULL},
    {"rtp_received", T_ULONGLONG, offsetof(Demux, rtp_received), READONLY, NULL},
    {"rtcp_received", T_ULONGLONG, offsetof(Demux, rtcp_received), READONLY, NULL},
    {"failures", T_ULONGLONG, offsetof(Demux, failures), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject DemuxType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mediaserver.rtp._wire.Demux",
    .tp_basicsize = sizeof(Demux),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A socket's datagrams: SRTP to the streams, the rest to aioice.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)demux_init,
    .tp_traverse = (traverseproc)demux_traverse,
    .tp_clear = (inquiry)demux_clear,
    .tp_dealloc = (destructor)demux_dealloc,
    .tp_call = (ternaryfunc)demux_call,
    .tp_members = demux_members,
};

/* ---- the module -------------------------------------------------------------------- */

static PyObject *configure(PyObject *module, PyObject *args) {
    unsigned long long protect, unprotect, protect_rtcp, unprotect_rtcp;
    if (!PyArg_ParseTuple(args, "KKKK", &protect, &unprotect, &protect_rtcp, &unprotect_rtcp))
        return NULL;
    if (!protect || !unprotect || !protect_rtcp || !unprotect_rtcp) {
        PyErr_SetString(PyExc_ValueError, "a libsrtp function is missing");
        return NULL;
    }
    fn_protect = (srtp_fn)(uintptr_t)protect;
    fn_unprotect = (srtp_fn)(uintptr_t)unprotect;
    fn_protect_rtcp = (srtp_fn)(uintptr_t)protect_rtcp;
    fn_unprotect_rtcp = (srtp_fn)(uintptr_t)unprotect_rtcp;
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(protect, unprotect, protect_rtcp, unprotect_rtcp): libsrtp's functions."},
    {"fanout", (PyCFunction)(void (*)(void))fanout, METH_FASTCALL,
     "fanout(lanes, source, data, seq, timestamp, start, key, ast, now) -> int"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef wire_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "mediaserver.rtp._wire",
    .m_doc = "The SFU's per-packet edge in C.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__wire(void) {
    if (PyType_Ready(&EgressType) < 0 || PyType_Ready(&IngressType) < 0 ||
        PyType_Ready(&LaneType) < 0 || PyType_Ready(&StreamType) < 0 ||
        PyType_Ready(&DemuxType) < 0 || PyType_Ready(&EstimatorType) < 0)
        return NULL;
    str_received = PyUnicode_InternFromString("received");
    str_forwarded = PyUnicode_InternFromString("forwarded");
    str_lost = PyUnicode_InternFromString("_lost");
    str_keyframe = PyUnicode_InternFromString("_keyframe");
    str_renack = PyUnicode_InternFromString("_renack");
    str_retry_keyframe = PyUnicode_InternFromString("_retry_keyframe");
    if (!str_received || !str_forwarded || !str_lost || !str_keyframe || !str_renack ||
        !str_retry_keyframe)
        return NULL;
    str_forward = PyUnicode_InternFromString("forward");
    str_send_failed = PyUnicode_InternFromString("_send_failed");
    if (str_forward == NULL || str_send_failed == NULL)
        return NULL;
    PyObject *module = PyModule_Create(&wire_module);
    if (module == NULL)
        return NULL;
    if (PyModule_AddObjectRef(module, "Egress", (PyObject *)&EgressType) < 0 ||
        PyModule_AddObjectRef(module, "Ingress", (PyObject *)&IngressType) < 0 ||
        PyModule_AddObjectRef(module, "Lane", (PyObject *)&LaneType) < 0 ||
        PyModule_AddObjectRef(module, "Stream", (PyObject *)&StreamType) < 0 ||
        PyModule_AddObjectRef(module, "Demux", (PyObject *)&DemuxType) < 0 ||
        PyModule_AddObjectRef(module, "Estimator", (PyObject *)&EstimatorType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
