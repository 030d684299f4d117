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
    if (PyType_Ready(&EgressType) < 0 || PyType_Ready(&IngressType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&wire_module);
    if (module == NULL)
        return NULL;
    if (PyModule_AddObjectRef(module, "Egress", (PyObject *)&EgressType) < 0 ||
        PyModule_AddObjectRef(module, "Ingress", (PyObject *)&IngressType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
