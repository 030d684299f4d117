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
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

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
        PyType_Ready(&LaneType) < 0)
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
        PyModule_AddObjectRef(module, "Lane", (PyObject *)&LaneType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
