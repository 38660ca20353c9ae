/*
 * shim_sqlite3._native: read the rows of one SQLite query straight into Arrow column buffers.
 *
 * The stdlib sqlite3 module creates one Python object per value; at a million rows that is
 * most of the time. This reader steps the statement in C, with the GIL released, and appends
 * each value to per-column buffers laid out as Arrow expects (validity bitmap, int64/float64
 * values, int32 offsets + UTF-8/binary data). Python (shim_sqlite3.reader) wraps them with
 * pyarrow.Array.from_buffers and writes parquet.
 *
 * It keeps the typing rules of the stdlib reader exactly (see reader.py): each value's own
 * storage class is looked at, and a column's type only widens, along
 *     NULL < INTEGER (int64) < REAL (float64) < TEXT (string) < BLOB (binary)
 * INTEGER in a REAL column -> (double), like Python's float(int);
 * INTEGER/REAL in a TEXT or BLOB column -> their str() (repr() for floats, computed with
 * CPython's own PyOS_double_to_string, so the digits are Python's);
 * TEXT in a BLOB column -> its UTF-8 bytes. TEXT that is not valid UTF-8 is an error, as it
 * is for the stdlib module (which cannot decode it to str).
 * A column keeps its widest type from one batch to the next: a batch starts each column at
 * the type reached so far, so only batches returned before a widening can need a rewrite
 * (reader.py does that).
 *
 * The connection is opened read-only by URI (the caller builds it), with PRAGMA query_only
 * and the ATTACH limit at 0, as the Python path does. Errors are raised as
 * shim_sqlite3._native.Error with SQLite's message and the attributes sqlite_errorcode and
 * sqlite_errorname (the primary code's name), like sqlite3.Error, so reader.py classifies
 * both the same way.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <sqlite3.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { RANK_NULL = 0, RANK_INT, RANK_FLOAT, RANK_STR, RANK_BLOB };

static PyObject *NativeError = NULL;

/* --- growable buffers ------------------------------------------------------------------- */

typedef struct {
    char *p;
    size_t len, cap;
} Buf;

static int buf_grow(Buf *b, size_t extra) {
    size_t need = b->len + extra;
    if (need < b->len) return -1;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

static inline int buf_put(Buf *b, const void *src, size_t n) {
    if (b->len + n > b->cap && buf_grow(b, n)) return -1;
    if (n) memcpy(b->p + b->len, src, n);
    b->len += n;
    return 0;
}

static void buf_free(Buf *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* Keep a buffer's memory across batches, unless one unusual batch made it much larger than
 * what it holds now (memory stays flat). */
static void buf_reset(Buf *b) {
    if (b->cap > ((size_t)64 << 20) && b->len < b->cap / 4) buf_free(b);
    b->len = 0;
}

/* --- errors ------------------------------------------------------------------------------ */

static const char *primary_name(int code) {
    switch (code & 0xff) {
        case SQLITE_ERROR: return "SQLITE_ERROR";
        case SQLITE_INTERNAL: return "SQLITE_INTERNAL";
        case SQLITE_PERM: return "SQLITE_PERM";
        case SQLITE_ABORT: return "SQLITE_ABORT";
        case SQLITE_BUSY: return "SQLITE_BUSY";
        case SQLITE_LOCKED: return "SQLITE_LOCKED";
        case SQLITE_NOMEM: return "SQLITE_NOMEM";
        case SQLITE_READONLY: return "SQLITE_READONLY";
        case SQLITE_INTERRUPT: return "SQLITE_INTERRUPT";
        case SQLITE_IOERR: return "SQLITE_IOERR";
        case SQLITE_CORRUPT: return "SQLITE_CORRUPT";
        case SQLITE_NOTFOUND: return "SQLITE_NOTFOUND";
        case SQLITE_FULL: return "SQLITE_FULL";
        case SQLITE_CANTOPEN: return "SQLITE_CANTOPEN";
        case SQLITE_PROTOCOL: return "SQLITE_PROTOCOL";
        case SQLITE_EMPTY: return "SQLITE_EMPTY";
        case SQLITE_SCHEMA: return "SQLITE_SCHEMA";
        case SQLITE_TOOBIG: return "SQLITE_TOOBIG";
        case SQLITE_CONSTRAINT: return "SQLITE_CONSTRAINT";
        case SQLITE_MISMATCH: return "SQLITE_MISMATCH";
        case SQLITE_MISUSE: return "SQLITE_MISUSE";
        case SQLITE_NOLFS: return "SQLITE_NOLFS";
        case SQLITE_AUTH: return "SQLITE_AUTH";
        case SQLITE_FORMAT: return "SQLITE_FORMAT";
        case SQLITE_RANGE: return "SQLITE_RANGE";
        case SQLITE_NOTADB: return "SQLITE_NOTADB";
        default: return NULL;
    }
}

/* Raise NativeError(message) with sqlite_errorcode/sqlite_errorname (code < 0: not from
 * SQLite, both None). */
static void raise_error(int code, const char *message) {
    PyObject *text = PyUnicode_DecodeUTF8(message, (Py_ssize_t)strlen(message), "replace");
    if (text == NULL) return;
    PyObject *exc = PyObject_CallOneArg(NativeError, text);
    Py_DECREF(text);
    if (exc == NULL) return;
    PyObject *c = code < 0 ? Py_NewRef(Py_None) : PyLong_FromLong(code);
    const char *name = code < 0 ? NULL : primary_name(code);
    PyObject *n = name ? PyUnicode_FromString(name) : Py_NewRef(Py_None);
    if (c && n && PyObject_SetAttrString(exc, "sqlite_errorcode", c) == 0 &&
        PyObject_SetAttrString(exc, "sqlite_errorname", n) == 0) {
        PyErr_SetObject(NativeError, exc);
    }
    Py_XDECREF(c);
    Py_XDECREF(n);
    Py_DECREF(exc);
}

static void raise_db_error(sqlite3 *db, int rc) {
    int code = db ? sqlite3_extended_errcode(db) : rc;
    if ((code & 0xff) == SQLITE_OK) code = rc;
    raise_error(code, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

/* Converts the pending Python exception (from binding a parameter) into NativeError, so that
 * every failure of the query reaches the caller as one kind of error. */
static void reraise_as_native(const char *what) {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    PyObject *text = value ? PyObject_Str(value) : NULL;
    const char *msg = text ? PyUnicode_AsUTF8(text) : NULL;
    if (msg == NULL) PyErr_Clear();
    PyObject *full = PyUnicode_FromFormat("%s: %s", what, msg ? msg : "unknown error");
    if (full) {
        raise_error(-1, PyUnicode_AsUTF8(full));
        Py_DECREF(full);
    }
    Py_XDECREF(text);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

/* --- UTF-8 -------------------------------------------------------------------------------- */

/* Strict UTF-8 (what Python's decoder accepts): no overlong forms, no surrogates, at most
 * U+10FFFF. */
static int utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ULL) break;
            i += 8;
        }
        if (i >= n) break;
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c < 0xC2) return 0;
        if (c < 0xE0) {
            if (i + 1 >= n || (s[i + 1] & 0xC0) != 0x80) return 0;
            i += 2;
        } else if (c < 0xF0) {
            if (i + 2 >= n) return 0;
            unsigned char c1 = s[i + 1];
            if (c == 0xE0 ? (c1 < 0xA0 || c1 > 0xBF)
                          : c == 0xED ? (c1 < 0x80 || c1 > 0x9F) : (c1 & 0xC0) != 0x80)
                return 0;
            if ((s[i + 2] & 0xC0) != 0x80) return 0;
            i += 3;
        } else if (c < 0xF5) {
            if (i + 3 >= n) return 0;
            unsigned char c1 = s[i + 1];
            if (c == 0xF0 ? (c1 < 0x90 || c1 > 0xBF)
                          : c == 0xF4 ? (c1 < 0x80 || c1 > 0x8F) : (c1 & 0xC0) != 0x80)
                return 0;
            if ((s[i + 2] & 0xC0) != 0x80 || (s[i + 3] & 0xC0) != 0x80) return 0;
            i += 4;
        } else {
            return 0;
        }
    }
    return 1;
}

/* --- columns ------------------------------------------------------------------------------ */

typedef struct {
    int rank;
    Buf data;    /* int64 / float64 values, or the bytes of TEXT/BLOB values */
    Buf offsets; /* int32 offsets into data for TEXT/BLOB: rows + 1 of them */
    Buf valid;   /* one byte per row, 1 = value, 0 = NULL (packed into bits when returned) */
    Buf ints;    /* IntAt: the INTEGER values of a REAL column in this batch, as they were */
    Py_ssize_t nulls;
} Column;

/* An INTEGER held by a REAL column: kept so that, if the column becomes TEXT within the same
 * batch, it is written as str(int) ("1"), not as the repr of its float ("1.0"). */
typedef struct {
    int64_t row;
    int64_t value;
} IntAt;

/* What a batch needs while the GIL is released. */
typedef struct {
    PyThreadState *ts;       /* saved thread state; NULL while the GIL is held */
    int code;                /* error: SQLite code, or -1 */
    char message[512];
} Batch;

static void batch_fail(Batch *b, int code, const char *fmt, const char *arg) {
    if (b->message[0]) return;
    b->code = code;
    snprintf(b->message, sizeof b->message, fmt, arg);
}

static int put_offset(Batch *b, Column *col) {
    if (col->data.len > INT32_MAX) {
        batch_fail(b, -1, "%s", "a result column holds more than 2 GiB of text or bytes in one "
                                "batch: lower batch_rows");
        return -1;
    }
    int32_t off = (int32_t)col->data.len;
    if (buf_put(&col->offsets, &off, 4)) {
        batch_fail(b, SQLITE_NOMEM, "%s", "out of memory");
        return -1;
    }
    return 0;
}

static int put_int_text(Batch *b, Column *col, sqlite3_int64 v) {
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%lld", (long long)v);
    if (buf_put(&col->data, tmp, (size_t)n)) {
        batch_fail(b, SQLITE_NOMEM, "%s", "out of memory");
        return -1;
    }
    return put_offset(b, col);
}

/* repr(v) appended as text: CPython's own shortest round-trip digits (needs the GIL). */
static int put_float_text(Batch *b, Column *col, double v) {
    if (b->ts) PyEval_RestoreThread(b->ts);
    char *s = PyOS_double_to_string(v, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    int rc = 0;
    if (s == NULL) {
        PyErr_Clear();
        batch_fail(b, SQLITE_NOMEM, "%s", "out of memory");
        rc = -1;
    } else {
        if (buf_put(&col->data, s, strlen(s))) {
            batch_fail(b, SQLITE_NOMEM, "%s", "out of memory");
            rc = -1;
        }
        PyMem_Free(s);
    }
    if (b->ts) b->ts = PyEval_SaveThread();
    return rc ? rc : put_offset(b, col);
}

/* Widen the ``rows`` values already in ``col`` (this batch) to ``rank``. */
static int promote(Batch *b, Column *col, int rank, Py_ssize_t rows) {
    int old = col->rank;
    const unsigned char *valid = (const unsigned char *)col->valid.p;
    if (old == RANK_NULL) {
        if (rank == RANK_INT || rank == RANK_FLOAT) {
            if (buf_grow(&col->data, (size_t)rows * 8)) goto nomem;
            memset(col->data.p, 0, (size_t)rows * 8);
            col->data.len = (size_t)rows * 8;
        } else {
            if (buf_grow(&col->offsets, ((size_t)rows + 1) * 4)) goto nomem;
            memset(col->offsets.p, 0, ((size_t)rows + 1) * 4);
            col->offsets.len = ((size_t)rows + 1) * 4;
            col->data.len = 0;
        }
    } else if (old == RANK_INT && rank == RANK_FLOAT) {
        int64_t *iv = (int64_t *)col->data.p;
        double *dv = (double *)col->data.p;
        for (Py_ssize_t k = 0; k < rows; k++) {
            if (valid[k]) {
                IntAt at = {k, iv[k]};
                if (buf_put(&col->ints, &at, sizeof at)) goto nomem;
            }
            dv[k] = (double)iv[k];
        }
    } else if (old == RANK_INT || old == RANK_FLOAT) { /* numbers -> their text */
        Buf numbers = col->data;
        col->data = (Buf){0};
        col->offsets.len = 0;
        col->rank = rank;
        const IntAt *ints = (const IntAt *)col->ints.p;
        size_t nints = col->ints.len / sizeof(IntAt), next = 0;
        PyThreadState *ts = b->ts;
        if (old == RANK_FLOAT && ts) { /* repr() needs the GIL: take it once for the loop */
            PyEval_RestoreThread(ts);
            b->ts = NULL;
        }
        int rc = put_offset(b, col);
        for (Py_ssize_t k = 0; rc == 0 && k < rows; k++) {
            if (!valid[k]) {
                rc = put_offset(b, col);
            } else if (old == RANK_INT) {
                rc = put_int_text(b, col, ((int64_t *)numbers.p)[k]);
            } else if (next < nints && ints[next].row == k) {
                rc = put_int_text(b, col, ints[next++].value);
            } else {
                rc = put_float_text(b, col, ((double *)numbers.p)[k]);
            }
        }
        if (old == RANK_FLOAT && ts) b->ts = PyEval_SaveThread();
        col->ints.len = 0;
        buf_free(&numbers);
        if (rc) return -1;
    } /* TEXT -> BLOB: the same bytes */
    col->rank = rank;
    return 0;
nomem:
    batch_fail(b, SQLITE_NOMEM, "%s", "out of memory");
    return -1;
}

/* Append the value of column ``i`` of the current row. */
static int append(Batch *b, Column *col, sqlite3_stmt *stmt, int i, Py_ssize_t rows) {
    unsigned char ok = 1;
    switch (sqlite3_column_type(stmt, i)) {
        case SQLITE_NULL:
            ok = 0;
            col->nulls++;
            if (col->rank == RANK_INT || col->rank == RANK_FLOAT) {
                int64_t zero = 0;
                if (buf_put(&col->data, &zero, 8)) goto nomem;
            } else if (col->rank >= RANK_STR) {
                if (put_offset(b, col)) return -1;
            }
            break;
        case SQLITE_INTEGER: {
            sqlite3_int64 v = sqlite3_column_int64(stmt, i);
            if (col->rank == RANK_NULL && promote(b, col, RANK_INT, rows)) return -1;
            if (col->rank == RANK_INT) {
                int64_t x = v;
                if (buf_put(&col->data, &x, 8)) goto nomem;
            } else if (col->rank == RANK_FLOAT) {
                double d = (double)v;
                IntAt at = {rows, v};
                if (buf_put(&col->data, &d, 8) || buf_put(&col->ints, &at, sizeof at))
                    goto nomem;
            } else if (put_int_text(b, col, v)) {
                return -1;
            }
            break;
        }
        case SQLITE_FLOAT: {
            double v = sqlite3_column_double(stmt, i);
            if (col->rank < RANK_FLOAT && promote(b, col, RANK_FLOAT, rows)) return -1;
            if (col->rank == RANK_FLOAT) {
                if (buf_put(&col->data, &v, 8)) goto nomem;
            } else if (put_float_text(b, col, v)) {
                return -1;
            }
            break;
        }
        case SQLITE_TEXT: {
            const unsigned char *s = sqlite3_column_text(stmt, i);
            size_t n = (size_t)sqlite3_column_bytes(stmt, i);
            if (s == NULL && n) goto nomem;
            if (!utf8_valid(s, n)) {
                batch_fail(b, -1, "Could not decode to UTF-8 column '%s'",
                           sqlite3_column_name(stmt, i));
                return -1;
            }
            if (col->rank < RANK_STR && promote(b, col, RANK_STR, rows)) return -1;
            if (buf_put(&col->data, s, n)) goto nomem;
            if (put_offset(b, col)) return -1;
            break;
        }
        default: { /* SQLITE_BLOB */
            const void *p = sqlite3_column_blob(stmt, i);
            size_t n = (size_t)sqlite3_column_bytes(stmt, i);
            if (p == NULL && n) goto nomem;
            if (col->rank < RANK_BLOB && promote(b, col, RANK_BLOB, rows)) return -1;
            if (buf_put(&col->data, p, n)) goto nomem;
            if (put_offset(b, col)) return -1;
            break;
        }
    }
    if (buf_put(&col->valid, &ok, 1)) goto nomem;
    return 0;
nomem:
    batch_fail(b, SQLITE_NOMEM, "%s", "out of memory");
    return -1;
}

/* --- the Reader type ------------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    sqlite3 *db;
    sqlite3_stmt *stmt;
    int ncols;
    Column *cols;
    int done;
    int busy;
} Reader;

static void reader_release(Reader *self) {
    if (self->stmt) {
        sqlite3_finalize(self->stmt);
        self->stmt = NULL;
    }
    if (self->cols) {
        for (int i = 0; i < self->ncols; i++) {
            buf_free(&self->cols[i].data);
            buf_free(&self->cols[i].offsets);
            buf_free(&self->cols[i].valid);
            buf_free(&self->cols[i].ints);
        }
        free(self->cols);
        self->cols = NULL;
    }
    self->ncols = 0;
}

static void reader_close_db(Reader *self) {
    reader_release(self);
    if (self->db) {
        sqlite3_close_v2(self->db);
        self->db = NULL;
    }
}

static void Reader_dealloc(Reader *self) {
    reader_close_db(self);
    PyTypeObject *tp = Py_TYPE(self);
    tp->tp_free((PyObject *)self);
}

static int Reader_init(Reader *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"uri", "busy_timeout_ms", NULL};
    const char *uri;
    int timeout_ms = 5000;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "s|i", kwlist, &uri, &timeout_ms)) return -1;
    reader_close_db(self);
    sqlite3 *db = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX,
                         NULL);
    if (rc == SQLITE_OK) {
        sqlite3_extended_result_codes(db, 1);
        sqlite3_busy_timeout(db, timeout_ms);
        rc = sqlite3_exec(db, "PRAGMA query_only = ON", NULL, NULL, NULL);
        if (rc == SQLITE_OK) sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
    }
    Py_END_ALLOW_THREADS
    if (rc != SQLITE_OK) {
        raise_db_error(db, rc);
        sqlite3_close_v2(db);
        return -1;
    }
    self->db = db;
    return 0;
}

/* Whether anything but blanks and comments follows the first statement (the stdlib module's
 * rule for "one statement at a time"). */
static int more_sql(const char *p) {
    for (;;) {
        switch (*p) {
            case 0: return 0;
            case ' ': case '\t': case '\n': case '\r': p++; break;
            case '-':
                if (p[1] != '-') return 1;
                p = strchr(p, '\n');
                if (p == NULL) return 0;
                break;
            case '/':
                if (p[1] != '*') return 1;
                p = strstr(p + 2, "*/");
                if (p == NULL) return 0;
                p += 2;
                break;
            default: return 1;
        }
    }
}

static int bind_one(Reader *self, int pos, PyObject *v) {
    sqlite3_stmt *st = self->stmt;
    int rc;
    if (v == Py_None) {
        rc = sqlite3_bind_null(st, pos);
    } else if (PyLong_Check(v)) {
        int overflow = 0;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow) {
            PyErr_SetString(PyExc_OverflowError,
                            "Python int too large to convert to SQLite INTEGER");
            return -1;
        }
        if (x == -1 && PyErr_Occurred()) return -1;
        rc = sqlite3_bind_int64(st, pos, x);
    } else if (PyFloat_Check(v)) {
        rc = sqlite3_bind_double(st, pos, PyFloat_AsDouble(v));
    } else if (PyUnicode_Check(v)) {
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(v, &n);
        if (s == NULL) return -1;
        rc = sqlite3_bind_text64(st, pos, s, (sqlite3_uint64)n, SQLITE_TRANSIENT, SQLITE_UTF8);
    } else if (PyObject_CheckBuffer(v)) {
        Py_buffer view;
        if (PyObject_GetBuffer(v, &view, PyBUF_SIMPLE) != 0) return -1;
        rc = sqlite3_bind_blob64(st, pos, view.buf, (sqlite3_uint64)view.len, SQLITE_TRANSIENT);
        PyBuffer_Release(&view);
    } else {
        PyErr_Format(PyExc_TypeError, "type '%.200s' is not supported", Py_TYPE(v)->tp_name);
        return -1;
    }
    if (rc != SQLITE_OK) {
        raise_db_error(self->db, rc);
        return -2;
    }
    return 0;
}

/* Bind ``params``: a dict (by name, without the prefix character) or a sequence (by
 * position), as the stdlib module does. */
static int bind_params(Reader *self, PyObject *params) {
    int needed = sqlite3_bind_parameter_count(self->stmt);
    char what[300];
    if (PyTuple_Check(params) || PyList_Check(params) ||
        (!PyDict_Check(params) && PySequence_Check(params))) {
        Py_ssize_t n = PySequence_Size(params);
        if (n < 0) {
            reraise_as_native("parameters");
            return -1;
        }
        if (n != needed) {
            snprintf(what, sizeof what,
                     "Incorrect number of bindings supplied. The current statement uses %d, "
                     "and there are %zd supplied.", needed, n);
            raise_error(-1, what);
            return -1;
        }
        for (int i = 0; i < needed; i++) {
            PyObject *v = PySequence_GetItem(params, i);
            int rc = v ? bind_one(self, i + 1, v) : -1;
            Py_XDECREF(v);
            if (rc == -1) {
                snprintf(what, sizeof what, "Error binding parameter %d", i + 1);
                reraise_as_native(what);
            }
            if (rc) return -1;
        }
        return 0;
    }
    if (!PyDict_Check(params)) {
        raise_error(-1, "parameters are of unsupported type (a dict or a sequence is needed)");
        return -1;
    }
    for (int i = 1; i <= needed; i++) {
        const char *name = sqlite3_bind_parameter_name(self->stmt, i);
        if (name == NULL) {
            snprintf(what, sizeof what,
                     "Binding %d has no name, but you supplied a dictionary (which has only "
                     "names).", i);
            raise_error(-1, what);
            return -1;
        }
        PyObject *v = PyDict_GetItemString(params, name + 1); /* borrowed */
        if (v == NULL) {
            snprintf(what, sizeof what,
                     "You did not supply a value for binding parameter %.250s.", name);
            raise_error(-1, what);
            return -1;
        }
        int rc = bind_one(self, i, v);
        if (rc == -1) {
            snprintf(what, sizeof what, "Error binding parameter %.250s", name);
            reraise_as_native(what);
        }
        if (rc) return -1;
    }
    return 0;
}

/* execute(sql, params) -> list of column names, or None when the statement returns no
 * columns (it has then been run once, so that a write fails with SQLite's own error). */
static PyObject *Reader_execute(Reader *self, PyObject *args) {
    PyObject *sql_obj, *params, *ranks = Py_None;
    if (!PyArg_ParseTuple(args, "UO|O", &sql_obj, &params, &ranks)) return NULL;
    if (self->db == NULL) {
        raise_error(-1, "the reader is closed");
        return NULL;
    }
    if (self->busy) {
        raise_error(-1, "the reader is in use by another thread");
        return NULL;
    }
    reader_release(self);
    self->done = 0;
    Py_ssize_t size;
    const char *sql = PyUnicode_AsUTF8AndSize(sql_obj, &size);
    if (sql == NULL) {
        reraise_as_native("the query");
        return NULL;
    }
    if (strlen(sql) != (size_t)size) {
        raise_error(-1, "the query contains a null character");
        return NULL;
    }
    if (size >= INT32_MAX) {
        raise_error(SQLITE_TOOBIG, "query string is too large");
        return NULL;
    }
    const char *tail = NULL;
    sqlite3_stmt *stmt = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = sqlite3_prepare_v2(self->db, sql, (int)size + 1, &stmt, &tail);
    Py_END_ALLOW_THREADS
    if (rc != SQLITE_OK) {
        raise_db_error(self->db, rc);
        return NULL;
    }
    if (tail && more_sql(tail)) {
        sqlite3_finalize(stmt);
        raise_error(-1, "You can only execute one statement at a time.");
        return NULL;
    }
    self->stmt = stmt;
    if (stmt == NULL) { /* nothing but blanks and comments */
        self->done = 1;
        Py_RETURN_NONE;
    }
    if (bind_params(self, params)) {
        reader_release(self);
        return NULL;
    }
    int ncols = sqlite3_column_count(stmt);
    if (ncols == 0) {
        Py_BEGIN_ALLOW_THREADS
        rc = sqlite3_step(stmt);
        Py_END_ALLOW_THREADS
        if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
            raise_db_error(self->db, rc);
            reader_release(self);
            return NULL;
        }
        reader_release(self);
        self->done = 1;
        Py_RETURN_NONE;
    }
    PyObject *names = PyList_New(ncols);
    if (names == NULL) return NULL;
    for (int i = 0; i < ncols; i++) {
        const char *name = sqlite3_column_name(stmt, i);
        PyObject *s = name ? PyUnicode_DecodeUTF8(name, (Py_ssize_t)strlen(name), NULL)
                           : PyErr_NoMemory();
        if (s == NULL) {
            Py_DECREF(names);
            reraise_as_native("column name");
            reader_release(self);
            return NULL;
        }
        PyList_SET_ITEM(names, i, s);
    }
    self->cols = calloc((size_t)ncols, sizeof(Column));
    if (self->cols == NULL) {
        Py_DECREF(names);
        reader_release(self);
        return PyErr_NoMemory();
    }
    self->ncols = ncols;
    if (ranks != Py_None) { /* each column starts at least at this type */
        PyObject *seq = PySequence_Fast(ranks, "ranks must be a sequence");
        if (seq == NULL || PySequence_Fast_GET_SIZE(seq) != ncols) {
            Py_XDECREF(seq);
            Py_DECREF(names);
            reader_release(self);
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "one rank per column");
            return NULL;
        }
        for (int i = 0; i < ncols; i++) {
            long r = PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, i));
            if (r < RANK_NULL || r > RANK_BLOB) {
                Py_DECREF(seq);
                Py_DECREF(names);
                reader_release(self);
                if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "rank out of range");
                return NULL;
            }
            self->cols[i].rank = (int)r;
        }
        Py_DECREF(seq);
    }
    return names;
}

static PyObject *pack_validity(const Column *col, Py_ssize_t rows) {
    PyObject *out = PyBytes_FromStringAndSize(NULL, (rows + 7) / 8);
    if (out == NULL) return NULL;
    unsigned char *bits = (unsigned char *)PyBytes_AS_STRING(out);
    const unsigned char *v = (const unsigned char *)col->valid.p;
    memset(bits, 0, (size_t)(rows + 7) / 8);
    for (Py_ssize_t k = 0; k < rows; k++) bits[k >> 3] |= (unsigned char)(v[k] << (k & 7));
    return out;
}

static PyObject *column_result(const Column *col, Py_ssize_t rows) {
    PyObject *validity = NULL, *offsets = NULL, *data = NULL;
    if (col->rank != RANK_NULL && col->nulls) {
        if ((validity = pack_validity(col, rows)) == NULL) goto fail;
    } else {
        validity = Py_NewRef(Py_None);
    }
    if (col->rank >= RANK_STR) {
        offsets = PyBytes_FromStringAndSize(col->offsets.p, (Py_ssize_t)col->offsets.len);
    } else {
        offsets = Py_NewRef(Py_None);
    }
    if (offsets == NULL) goto fail;
    if (col->rank != RANK_NULL) {
        data = PyBytes_FromStringAndSize(col->data.p, (Py_ssize_t)col->data.len);
    } else {
        data = Py_NewRef(Py_None);
    }
    if (data == NULL) goto fail;
    /* the last item: a REAL column that holds INTEGER values (converted with float()) */
    return Py_BuildValue("(inNNNO)", col->rank, col->nulls, validity, offsets, data,
                         col->rank == RANK_FLOAT && col->ints.len ? Py_True : Py_False);
fail:
    Py_XDECREF(validity);
    Py_XDECREF(offsets);
    Py_XDECREF(data);
    return NULL;
}

/* fetch(max_rows, max_bytes)
 *   -> (rows, [(rank, null_count, validity, offsets, data, ints_as_floats), ...])
 * or None when the result is exhausted. */
static PyObject *Reader_fetch(Reader *self, PyObject *args) {
    Py_ssize_t max_rows, max_bytes;
    if (!PyArg_ParseTuple(args, "nn", &max_rows, &max_bytes)) return NULL;
    if (max_rows < 1) {
        PyErr_SetString(PyExc_ValueError, "max_rows must be >= 1");
        return NULL;
    }
    if (self->busy) {
        raise_error(-1, "the reader is in use by another thread");
        return NULL;
    }
    if (self->done || self->stmt == NULL) Py_RETURN_NONE;
    int ncols = self->ncols;
    for (int i = 0; i < ncols; i++) {
        Column *c = &self->cols[i];
        buf_reset(&c->data);
        buf_reset(&c->offsets);
        buf_reset(&c->valid);
        buf_reset(&c->ints);
        c->nulls = 0;
        if (c->rank >= RANK_STR) {
            int32_t zero = 0;
            if (buf_put(&c->offsets, &zero, 4)) return PyErr_NoMemory();
        }
    }
    Batch b = {0};
    Py_ssize_t rows = 0;
    int rc = SQLITE_ROW;
    self->busy = 1;
    b.ts = PyEval_SaveThread();
    while (rows < max_rows) {
        rc = sqlite3_step(self->stmt);
        if (rc != SQLITE_ROW) break;
        size_t bytes = 0;
        for (int i = 0; i < ncols; i++) {
            Column *c = &self->cols[i];
            if (append(&b, c, self->stmt, i, rows)) break;
            bytes += c->data.len + c->offsets.len;
        }
        if (b.message[0]) break;
        rows++;
        if ((Py_ssize_t)bytes >= max_bytes) break;
    }
    if (!b.message[0] && rc != SQLITE_ROW && rc != SQLITE_DONE) {
        b.code = sqlite3_extended_errcode(self->db);
        if ((b.code & 0xff) == SQLITE_OK) b.code = rc;
        snprintf(b.message, sizeof b.message, "%s", sqlite3_errmsg(self->db));
    }
    PyEval_RestoreThread(b.ts);
    b.ts = NULL;
    self->busy = 0;
    if (b.message[0]) {
        self->done = 1;
        raise_error(b.code, b.message);
        return NULL;
    }
    if (rc == SQLITE_DONE) self->done = 1;
    if (rows == 0) Py_RETURN_NONE;
    PyObject *cols = PyList_New(ncols);
    if (cols == NULL) return NULL;
    for (int i = 0; i < ncols; i++) {
        PyObject *c = column_result(&self->cols[i], rows);
        if (c == NULL) {
            Py_DECREF(cols);
            return NULL;
        }
        PyList_SET_ITEM(cols, i, c);
    }
    return Py_BuildValue("(nN)", rows, cols);
}

static PyObject *Reader_close(Reader *self, PyObject *Py_UNUSED(ignored)) {
    if (self->busy) {
        raise_error(-1, "the reader is in use by another thread");
        return NULL;
    }
    reader_close_db(self);
    Py_RETURN_NONE;
}

static PyMethodDef Reader_methods[] = {
    {"execute", (PyCFunction)Reader_execute, METH_VARARGS,
     "execute(sql, params, ranks=None) -> column names, or None for a statement without "
     "columns; ranks: the type each column starts at"},
    {"fetch", (PyCFunction)Reader_fetch, METH_VARARGS,
     "fetch(max_rows, max_bytes) -> (rows, columns) or None at the end"},
    {"close", (PyCFunction)Reader_close, METH_NOARGS, "close the statement and the database"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ReaderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "shim_sqlite3._native.Reader",
    .tp_doc = "Reader(uri, busy_timeout_ms=5000): one read-only SQLite connection",
    .tp_basicsize = sizeof(Reader),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Reader_init,
    .tp_dealloc = (destructor)Reader_dealloc,
    .tp_methods = Reader_methods,
};

/* float_texts(values) -> (offsets, data): repr() of each float64 in ``values`` (a buffer of
 * native doubles) as an Arrow string column's int32 offsets and UTF-8 data. */
static PyObject *float_texts(PyObject *Py_UNUSED(module), PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) != 0) return NULL;
    Py_ssize_t n = view.len / 8;
    Column col = {0};
    col.rank = RANK_STR;
    Batch b = {0};
    int rc = put_offset(&b, &col);
    for (Py_ssize_t k = 0; rc == 0 && k < n; k++) {
        double v;
        memcpy(&v, (const char *)view.buf + k * 8, 8);
        rc = put_float_text(&b, &col, v);
    }
    PyBuffer_Release(&view);
    PyObject *out = NULL;
    if (rc) {
        raise_error(b.code, b.message);
    } else {
        out = Py_BuildValue("(y#y#)", col.offsets.p, (Py_ssize_t)col.offsets.len,
                            col.data.p ? col.data.p : "", (Py_ssize_t)col.data.len);
    }
    buf_free(&col.offsets);
    buf_free(&col.data);
    return out;
}

static PyMethodDef module_methods[] = {
    {"float_texts", float_texts, METH_O,
     "float_texts(values) -> (offsets, data): repr() of each float64 as Arrow string buffers"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "shim_sqlite3._native",
    .m_doc = "SQLite rows into Arrow buffers, with the reader's typing rules (see reader.py).",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__native(void) {
    if (PyType_Ready(&ReaderType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL) return NULL;
    NativeError = PyErr_NewExceptionWithDoc(
        "shim_sqlite3._native.Error",
        "A failure reported by SQLite (sqlite_errorcode, sqlite_errorname) or by the reader.",
        NULL, NULL);
    if (NativeError == NULL || PyModule_AddObjectRef(m, "Error", NativeError) < 0 ||
        PyModule_AddObjectRef(m, "Reader", (PyObject *)&ReaderType) < 0 ||
        PyModule_AddStringConstant(m, "sqlite_version", sqlite3_libversion()) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
