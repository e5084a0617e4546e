/*
 * tpmkms's own TCTI for the TCP protocols of the TPM simulators, used by
 * esys_open() for the TCTI names "swtpm" and "mssim" (everything else goes
 * through tpm2-tss's TCTI loader).  tpm2-tss 3.2's swtpm and mssim TCTIs
 * read the answer with a blocking read() whatever receive timeout ESYS
 * passes, so a simulator that stops answering (kill -STOP, a hung host)
 * blocked every caller for ever.  This one honours the receive timeout
 * with poll() and bounds connecting and the simulator's handshake too, so
 * the backend's response deadline (esys_wait_more) applies.
 *
 * Written from the TCTI specification (TCG TSS 2.0 TCTI, the
 * TSS2_TCTI_CONTEXT_COMMON_V2 of tss2_tcti.h) and the simulators' wire
 * protocols:
 *
 *   swtpm ("swtpm:host=H,port=P", the swtpm TCTI's syntax): a command is
 *   the raw TPM command on a fresh connection to port P, the answer the
 *   raw response (its header's size says how long), then the connection
 *   is closed: swtpm serves one connection at a time, so holding one
 *   would lock every other process out.  When the TCTI is opened, the
 *   control channel (port P+1) is asked to set locality 0
 *   (CMD_SET_LOCALITY = 5, one byte; answer: a u32 result, 0 is success),
 *   as tpm2-tss's swtpm TCTI does.
 *
 *   mssim ("mssim:host=H,port=P", the Microsoft reference simulator):
 *   one connection to port P for the whole session; a command is
 *   u32 TPM_SEND_COMMAND (8), u8 locality, u32 length and the command;
 *   the answer is u32 length, the response and a u32 0.  When opened,
 *   the platform port (P+1) gets TPM_SIGNAL_POWER_ON (1) and
 *   TPM_SIGNAL_NV_ON (11), each answered by a u32 0; when closed, both
 *   connections get TPM_SESSION_END (20).
 *
 * All integers on the wire are big-endian.  The defaults are host
 * "localhost" and port 2321, as in tpm2-tss.  Sockets are non-blocking;
 * every wait is a poll() bounded by the caller's timeout (receive) or by
 * the I/O bound given at creation (connect, handshakes), and a receive
 * that runs out of time returns TSS2_TCTI_RC_TRY_AGAIN keeping what it
 * has read so far, so the next receive continues.
 */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <openssl/crypto.h>
#include <tss2/tss2_tcti.h>
#include "esys.h"

#define SOCK_MAGIC 0x746b6d7374637469ULL     /* "tkmstcti" */
#define SOCK_DEFAULT_HOST "localhost"
#define SOCK_DEFAULT_PORT 2321
#define SOCK_HEADER 10                      /* tag, size, code */
#define SOCK_MAX TPM2_MAX_RESPONSE_SIZE
#define MSSIM_SEND_COMMAND 8
#define MSSIM_POWER_ON 1
#define MSSIM_NV_ON 11
#define MSSIM_SESSION_END 20
#define SWTPM_CMD_SET_LOCALITY 5

enum sock_state { SOCK_IDLE, SOCK_RECEIVING, SOCK_READY, SOCK_BROKEN };

enum sock_phase {               /* what receive reads next */
    PH_LENGTH,                  /* mssim: the u32 length */
    PH_HEADER,                  /* swtpm: the response header */
    PH_BODY,                    /* the rest of the response */
    PH_ACK,                     /* mssim: the trailing u32 */
    PH_DONE
};

typedef struct {
    TSS2_TCTI_CONTEXT_COMMON_V2 common;  /* first: what ESYS calls */
    int mssim;                  /* protocol: mssim, else swtpm */
    char host[128];
    unsigned port;
    int io_ms;                  /* bound of connecting and handshakes */
    int fd;                     /* the TPM channel, -1 when closed */
    int platform_fd;            /* mssim: the platform channel */
    uint8_t locality;
    enum sock_state state;
    /* The command (mssim: with its frame) until it is all sent. */
    unsigned char out[9 + TPM2_MAX_COMMAND_SIZE];
    size_t out_len, out_sent;
    /* The answer, read in phases. */
    enum sock_phase phase;
    unsigned char frame[4];     /* mssim length / trailing word */
    size_t frame_have;
    unsigned char rsp[SOCK_MAX];
    size_t rsp_len, rsp_have;   /* rsp_len: 0 until the header says */
    char err[512];              /* the last failure, for messages */
    int timed_out;              /* ... and it was a wait that ran out */
} TCTI_SOCK;

static TCTI_SOCK *sock_of(TSS2_TCTI_CONTEXT *tcti)
{
    TCTI_SOCK *s = (TCTI_SOCK *)tcti;

    if (s == NULL || s->common.v1.magic != SOCK_MAGIC)
        return NULL;
    return s;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16
        | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        (void)close(*fd);
    *fd = -1;
}

/* ------------------------------------------------------------- timing */

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A deadline for a wait of ms (-1: none). */
static int64_t deadline_of(int32_t ms)
{
    return ms < 0 ? -1 : now_ms() + ms;
}

/*
 * Waits until fd is ready for events or the deadline (-1: none) passes:
 * 1 ready (or in error: the next read or write says which), 0 time is
 * up, -1 poll failed (errno).  EINTR waits again for what is left.
 */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd p = { fd, events, 0 };
        int64_t left = -1;
        int n;

        if (deadline >= 0) {
            left = deadline - now_ms();
            if (left < 0)
                left = 0;
            if (left > INT_MAX)
                left = INT_MAX;
        }
        n = poll(&p, 1, (int)left);
        if (n > 0)
            return 1;
        if (n == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

/* A wait of ms for messages: whole seconds as "N s", else "N ms". */
static const char *span(int ms, char *buf, size_t n)
{
    if (ms % 1000 == 0)
        snprintf(buf, n, "%d s", ms / 1000);
    else
        snprintf(buf, n, "%d ms", ms);
    return buf;
}

/* ---------------------------------------------------------- connecting */

/*
 * Connects to host:port, giving up after s->io_ms: 0 and *fd, or -1 with
 * s->err saying why.  The socket is non-blocking and close-on-exec.
 */
static int sock_connect(TCTI_SOCK *s, unsigned port, const char *what,
                        int *fd)
{
    struct addrinfo hints, *res = NULL, *ai;
    char service[8];
    int64_t deadline = deadline_of(s->io_ms);
    int rc, last_err = 0, timed_out = 0;

    *fd = -1;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(service, sizeof(service), "%u", port);
    if ((rc = getaddrinfo(s->host, service, &hints, &res)) != 0) {
        snprintf(s->err, sizeof(s->err), "cannot resolve %s: %s", s->host,
                 gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        int one = 1, soerr = 0, r;
        socklen_t len = sizeof(soerr);
        int f = socket(ai->ai_family,
                       ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                       ai->ai_protocol);

        if (f < 0) {
            last_err = errno;
            continue;
        }
        (void)setsockopt(f, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        while ((r = connect(f, ai->ai_addr, ai->ai_addrlen)) != 0
               && errno == EINTR)
            ;
        if (r != 0 && errno == EINPROGRESS) {
            r = wait_fd(f, POLLOUT, deadline);
            if (r == 0) {
                timed_out = 1;
                close(f);
                break;
            }
            if (r < 0 || getsockopt(f, SOL_SOCKET, SO_ERROR, &soerr,
                                    &len) != 0) {
                soerr = errno;
            }
            r = soerr == 0 ? 0 : -1;
            errno = soerr;
        }
        if (r == 0) {
            *fd = f;
            freeaddrinfo(res);
            return 0;
        }
        last_err = errno;
        close(f);
    }
    freeaddrinfo(res);
    s->timed_out = timed_out;
    if (timed_out) {
        char t[24];

        snprintf(s->err, sizeof(s->err), "connecting to the %s at %s:%u "
                 "got no answer within %s", what, s->host, port,
                 span(s->io_ms, t, sizeof(t)));
    }
    else
        snprintf(s->err, sizeof(s->err), "cannot connect to the %s at "
                 "%s:%u: %s", what, s->host, port,
                 last_err != 0 ? strerror(last_err) : "no address");
    return -1;
}

/* ----------------------------------------------------------- raw I/O */

/*
 * Sends what is left of buf (from *sent) until all is sent or the
 * deadline passes: 1 all sent, 0 time is up (*sent says how far it got),
 * -1 failed (s->err).  No SIGPIPE: a closed peer is an error.
 */
static int send_some(TCTI_SOCK *s, int fd, const unsigned char *buf,
                     size_t len, size_t *sent, int64_t deadline)
{
    while (*sent < len) {
        ssize_t n = send(fd, buf + *sent, len - *sent,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        int r;

        if (n > 0) {
            *sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            snprintf(s->err, sizeof(s->err), "sending to %s:%u: %s",
                     s->host, s->port, strerror(errno));
            return -1;
        }
        if ((r = wait_fd(fd, POLLOUT, deadline)) <= 0) {
            if (r < 0)
                snprintf(s->err, sizeof(s->err), "poll: %s",
                         strerror(errno));
            return r;
        }
    }
    return 1;
}

/*
 * Reads into buf until *have reaches len or the deadline passes: 1 all
 * read, 0 time is up, -1 failed or the peer closed (s->err).
 */
static int recv_some(TCTI_SOCK *s, int fd, unsigned char *buf, size_t len,
                     size_t *have, int64_t deadline)
{
    while (*have < len) {
        ssize_t n = recv(fd, buf + *have, len - *have, MSG_DONTWAIT);
        int r;

        if (n > 0) {
            *have += (size_t)n;
            continue;
        }
        if (n == 0) {
            snprintf(s->err, sizeof(s->err), "%s:%u closed the connection "
                     "in the middle of an answer", s->host, s->port);
            return -1;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            snprintf(s->err, sizeof(s->err), "reading from %s:%u: %s",
                     s->host, s->port, strerror(errno));
            return -1;
        }
        if ((r = wait_fd(fd, POLLIN, deadline)) <= 0) {
            if (r < 0)
                snprintf(s->err, sizeof(s->err), "poll: %s",
                         strerror(errno));
            return r;
        }
    }
    return 1;
}

/*
 * One request of a side channel (swtpm control, mssim platform) answered
 * by a u32 result, within s->io_ms: 0 when the result is 0, else -1 with
 * s->err naming the request.
 */
static int side_request(TCTI_SOCK *s, int fd, const unsigned char *req,
                        size_t len, const char *name, const char *what)
{
    int64_t deadline = deadline_of(s->io_ms);
    unsigned char answer[4];
    size_t sent = 0, have = 0;
    char t[24];
    int r;

    r = send_some(s, fd, req, len, &sent, deadline);
    if (r == 1)
        r = recv_some(s, fd, answer, sizeof(answer), &have, deadline);
    s->timed_out = r == 0;
    if (r == 0)
        snprintf(s->err, sizeof(s->err), "%s got no answer from the %s at "
                 "%s:%u within %s: the TPM stopped answering", name, what,
                 s->host, s->port + 1, span(s->io_ms, t, sizeof(t)));
    if (r != 1)
        return -1;
    if (get_u32(answer) != 0) {
        snprintf(s->err, sizeof(s->err), "%s failed at the %s at %s:%u: "
                 "result %u", name, what, s->host, s->port + 1,
                 (unsigned)get_u32(answer));
        return -1;
    }
    return 0;
}

/* swtpm: one control-channel command with a one-byte argument. */
static int swtpm_control(TCTI_SOCK *s, uint32_t cmd, uint8_t arg,
                         const char *name)
{
    unsigned char req[5];
    int fd, r;

    if (sock_connect(s, s->port + 1, "swtpm control channel", &fd) != 0)
        return -1;
    put_u32(req, cmd);
    req[4] = arg;
    r = side_request(s, fd, req, sizeof(req), name,
                     "swtpm control channel");
    close(fd);
    return r;
}

/* mssim: one platform command on the platform connection. */
static int mssim_platform(TCTI_SOCK *s, uint32_t cmd, const char *name)
{
    unsigned char req[4];

    put_u32(req, cmd);
    return side_request(s, s->platform_fd, req, sizeof(req), name,
                        "mssim platform port");
}

/* mssim: TPM_SESSION_END, without waiting (the peer may have stopped). */
static void mssim_session_end(int fd)
{
    unsigned char req[4];

    if (fd < 0)
        return;
    put_u32(req, MSSIM_SESSION_END);
    (void)send(fd, req, sizeof(req), MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* ----------------------------------------------------- the TCTI calls */

static TSS2_RC sock_transmit(TSS2_TCTI_CONTEXT *tcti, size_t size,
                             const uint8_t *command)
{
    TCTI_SOCK *s = sock_of(tcti);
    size_t off = 0;

    if (tcti == NULL || command == NULL)
        return TSS2_TCTI_RC_BAD_REFERENCE;
    if (s == NULL)
        return TSS2_TCTI_RC_BAD_CONTEXT;
    if (s->state == SOCK_BROKEN)
        return TSS2_TCTI_RC_IO_ERROR;
    if (s->state != SOCK_IDLE)
        return TSS2_TCTI_RC_BAD_SEQUENCE;
    if (size < SOCK_HEADER || size > TPM2_MAX_COMMAND_SIZE
            || get_u32(command + 2) != size)
        return TSS2_TCTI_RC_BAD_VALUE;
    if (s->mssim) {
        put_u32(s->out, MSSIM_SEND_COMMAND);
        s->out[4] = s->locality;
        put_u32(s->out + 5, (uint32_t)size);
        off = 9;
    } else if (s->fd < 0
               && sock_connect(s, s->port, "swtpm", &s->fd) != 0) {
        return TSS2_TCTI_RC_IO_ERROR;
    }
    memcpy(s->out + off, command, size);
    s->out_len = off + size;
    s->out_sent = 0;
    s->phase = s->mssim ? PH_LENGTH : PH_HEADER;
    s->frame_have = 0;
    s->rsp_len = 0;
    s->rsp_have = 0;
    s->err[0] = '\0';
    /* Sends what the socket takes now; receive sends the rest. */
    if (send_some(s, s->fd, s->out, s->out_len, &s->out_sent, 0) < 0) {
        s->state = s->mssim ? SOCK_BROKEN : SOCK_IDLE;
        if (!s->mssim)
            close_fd(&s->fd);
        return TSS2_TCTI_RC_IO_ERROR;
    }
    s->state = SOCK_RECEIVING;
    return TSS2_RC_SUCCESS;
}

/*
 * Reads the answer until it is complete (1) or the deadline passes (0);
 * -1: the connection failed (s->err).
 */
static int sock_read_answer(TCTI_SOCK *s, int64_t deadline)
{
    int r = 1;

    if (s->out_sent < s->out_len
            && (r = send_some(s, s->fd, s->out, s->out_len, &s->out_sent,
                              deadline)) != 1)
        return r;
    while (r == 1 && s->phase != PH_DONE) {
        switch (s->phase) {
        case PH_LENGTH:
            r = recv_some(s, s->fd, s->frame, 4, &s->frame_have, deadline);
            if (r != 1)
                break;
            s->rsp_len = get_u32(s->frame);
            if (s->rsp_len < SOCK_HEADER || s->rsp_len > SOCK_MAX) {
                snprintf(s->err, sizeof(s->err), "%s:%u announced an "
                         "answer of %zu bytes", s->host, s->port,
                         s->rsp_len);
                return -1;
            }
            s->phase = PH_BODY;
            break;
        case PH_HEADER:
            r = recv_some(s, s->fd, s->rsp, SOCK_HEADER, &s->rsp_have,
                          deadline);
            if (r != 1)
                break;
            s->rsp_len = get_u32(s->rsp + 2);
            if (s->rsp_len < SOCK_HEADER || s->rsp_len > SOCK_MAX) {
                snprintf(s->err, sizeof(s->err), "%s:%u answered with a "
                         "response header giving %zu bytes", s->host,
                         s->port, s->rsp_len);
                return -1;
            }
            s->phase = PH_BODY;
            break;
        case PH_BODY:
            r = recv_some(s, s->fd, s->rsp, s->rsp_len, &s->rsp_have,
                          deadline);
            if (r == 1) {
                s->phase = s->mssim ? PH_ACK : PH_DONE;
                s->frame_have = 0;
            }
            break;
        case PH_ACK:
            r = recv_some(s, s->fd, s->frame, 4, &s->frame_have, deadline);
            if (r == 1)
                s->phase = PH_DONE;
            break;
        case PH_DONE:
            break;
        }
    }
    return r;
}

static TSS2_RC sock_receive(TSS2_TCTI_CONTEXT *tcti, size_t *size,
                            uint8_t *response, int32_t timeout)
{
    TCTI_SOCK *s = sock_of(tcti);
    int r;

    if (tcti == NULL || size == NULL)
        return TSS2_TCTI_RC_BAD_REFERENCE;
    if (s == NULL)
        return TSS2_TCTI_RC_BAD_CONTEXT;
    if (timeout < TSS2_TCTI_TIMEOUT_BLOCK)
        return TSS2_TCTI_RC_BAD_VALUE;
    if (s->state == SOCK_BROKEN)
        return TSS2_TCTI_RC_IO_ERROR;
    if (s->state == SOCK_IDLE)
        return TSS2_TCTI_RC_BAD_SEQUENCE;
    if (s->state == SOCK_RECEIVING) {
        r = sock_read_answer(s, deadline_of(timeout));
        if (r == 0)
            return TSS2_TCTI_RC_TRY_AGAIN;
        if (r < 0) {
            /* An mssim stream is out of step for good; swtpm's next
               command takes a new connection. */
            if (s->mssim) {
                s->state = SOCK_BROKEN;
            } else {
                close_fd(&s->fd);
                s->state = SOCK_IDLE;
            }
            return TSS2_TCTI_RC_IO_ERROR;
        }
        if (!s->mssim)
            close_fd(&s->fd);   /* swtpm: a connection per command */
        s->state = SOCK_READY;
    }
    /* A size query (response NULL), or the caller's buffer too small:
       the answer stays for the next call. */
    if (response == NULL) {
        *size = s->rsp_len;
        return TSS2_RC_SUCCESS;
    }
    if (*size < s->rsp_len) {
        *size = s->rsp_len;
        return TSS2_TCTI_RC_INSUFFICIENT_BUFFER;
    }
    memcpy(response, s->rsp, s->rsp_len);
    *size = s->rsp_len;
    s->state = SOCK_IDLE;
    return TSS2_RC_SUCCESS;
}

static void sock_finalize(TSS2_TCTI_CONTEXT *tcti)
{
    TCTI_SOCK *s = sock_of(tcti);

    if (s == NULL)
        return;
    if (s->mssim) {
        mssim_session_end(s->platform_fd);
        mssim_session_end(s->fd);
    }
    close_fd(&s->platform_fd);
    close_fd(&s->fd);
    s->state = SOCK_BROKEN;
}

static TSS2_RC sock_cancel(TSS2_TCTI_CONTEXT *tcti)
{
    return tcti == NULL ? TSS2_TCTI_RC_BAD_REFERENCE
        : TSS2_TCTI_RC_NOT_IMPLEMENTED;
}

static TSS2_RC sock_get_poll_handles(TSS2_TCTI_CONTEXT *tcti,
                                     TSS2_TCTI_POLL_HANDLE *handles,
                                     size_t *num)
{
    TCTI_SOCK *s = sock_of(tcti);

    if (tcti == NULL || num == NULL)
        return TSS2_TCTI_RC_BAD_REFERENCE;
    if (s == NULL)
        return TSS2_TCTI_RC_BAD_CONTEXT;
    if (s->fd < 0) {            /* swtpm between commands: no socket */
        *num = 0;
        return TSS2_RC_SUCCESS;
    }
    if (handles != NULL && *num < 1)
        return TSS2_TCTI_RC_INSUFFICIENT_BUFFER;
    *num = 1;
    if (handles != NULL) {
        handles->fd = s->fd;
        handles->events = s->out_sent < s->out_len ? POLLOUT : POLLIN;
        handles->revents = 0;
    }
    return TSS2_RC_SUCCESS;
}

static TSS2_RC sock_set_locality(TSS2_TCTI_CONTEXT *tcti, uint8_t locality)
{
    TCTI_SOCK *s = sock_of(tcti);

    if (tcti == NULL)
        return TSS2_TCTI_RC_BAD_REFERENCE;
    if (s == NULL)
        return TSS2_TCTI_RC_BAD_CONTEXT;
    if (s->state != SOCK_IDLE)
        return TSS2_TCTI_RC_BAD_SEQUENCE;
    if (!s->mssim && swtpm_control(s, SWTPM_CMD_SET_LOCALITY, locality,
                                   "CMD_SET_LOCALITY") != 0)
        return TSS2_TCTI_RC_IO_ERROR;
    s->locality = locality;
    return TSS2_RC_SUCCESS;
}

static TSS2_RC sock_make_sticky(TSS2_TCTI_CONTEXT *tcti, TPM2_HANDLE *handle,
                                uint8_t sticky)
{
    return tcti == NULL ? TSS2_TCTI_RC_BAD_REFERENCE
        : TSS2_TCTI_RC_NOT_IMPLEMENTED;
}

/* ------------------------------------------------------------- setup */

int esys_tcti_socket_claims(const char *conf)
{
    if (conf == NULL)
        return 0;
    if (strncmp(conf, "swtpm", 5) == 0 || strncmp(conf, "mssim", 5) == 0)
        return conf[5] == '\0' || conf[5] == ':';
    return 0;
}

/*
 * The key=value list after "swtpm:" / "mssim:": host= and port=, as the
 * tpm2-tss TCTIs take them.  0, or -1 with s->err naming what is wrong.
 */
static int sock_parse(TCTI_SOCK *s, const char *conf)
{
    const char *p = conf;

    snprintf(s->host, sizeof(s->host), "%s", SOCK_DEFAULT_HOST);
    s->port = SOCK_DEFAULT_PORT;
    while (p != NULL && *p != '\0') {
        size_t len = strcspn(p, ","), klen;
        const char *eq = memchr(p, '=', len);
        const char *v;
        size_t vlen;

        if (len == 0) {
            p++;
            continue;
        }
        if (eq == NULL) {
            snprintf(s->err, sizeof(s->err), "\"%.*s\" is not key=value "
                     "(host=, port=)", (int)len, p);
            return -1;
        }
        klen = (size_t)(eq - p);
        v = eq + 1;
        vlen = len - klen - 1;
        if (klen == 4 && strncmp(p, "host", 4) == 0) {
            if (vlen == 0 || vlen >= sizeof(s->host)) {
                snprintf(s->err, sizeof(s->err), "host= must name a host");
                return -1;
            }
            memcpy(s->host, v, vlen);
            s->host[vlen] = '\0';
        } else if (klen == 4 && strncmp(p, "port", 4) == 0) {
            unsigned long port = 0;
            size_t i;

            for (i = 0; i < vlen && i < 6 && v[i] >= '0' && v[i] <= '9'; i++)
                port = port * 10 + (unsigned long)(v[i] - '0');
            /* P+1 is the control or platform port. */
            if (vlen == 0 || i != vlen || port == 0 || port >= 65535) {
                snprintf(s->err, sizeof(s->err), "port '%.*s' is invalid: "
                         "give a TCP port number below 65535", (int)vlen, v);
                return -1;
            }
            s->port = (unsigned)port;
        } else {
            snprintf(s->err, sizeof(s->err), "unknown setting \"%.*s\" "
                     "(tpmkms's simulator client takes host= and port=)",
                     (int)klen, p);
            return -1;
        }
        p += len;
    }
    return 0;
}

TSS2_RC esys_tcti_socket_new(const char *conf, unsigned io_ms,
                             TSS2_TCTI_CONTEXT **out, char *err,
                             size_t errlen)
{
    TCTI_SOCK *s;
    const char *colon;
    TSS2_RC rc;

    *out = NULL;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (!esys_tcti_socket_claims(conf))
        return TSS2_TCTI_RC_BAD_VALUE;
    if ((s = OPENSSL_zalloc(sizeof(*s))) == NULL) {
        if (err != NULL)
            snprintf(err, errlen, "out of memory");
        return TSS2_TCTI_RC_MEMORY;
    }
    s->common.v1.magic = SOCK_MAGIC;
    s->common.v1.version = 2;
    s->common.v1.transmit = sock_transmit;
    s->common.v1.receive = sock_receive;
    s->common.v1.finalize = sock_finalize;
    s->common.v1.cancel = sock_cancel;
    s->common.v1.getPollHandles = sock_get_poll_handles;
    s->common.v1.setLocality = sock_set_locality;
    s->common.makeSticky = sock_make_sticky;
    s->mssim = strncmp(conf, "mssim", 5) == 0;
    s->io_ms = io_ms == 0 || io_ms > INT_MAX ? INT_MAX : (int)io_ms;
    s->fd = -1;
    s->platform_fd = -1;
    s->state = SOCK_IDLE;
    colon = strchr(conf, ':');
    if (sock_parse(s, colon != NULL ? colon + 1 : NULL) != 0) {
        rc = TSS2_TCTI_RC_BAD_VALUE;
        goto fail;
    }
    rc = TSS2_TCTI_RC_IO_ERROR;
    if (s->mssim) {
        if (sock_connect(s, s->port, "mssim TPM port", &s->fd) != 0
                || sock_connect(s, s->port + 1, "mssim platform port",
                                &s->platform_fd) != 0
                || mssim_platform(s, MSSIM_POWER_ON,
                                  "TPM_SIGNAL_POWER_ON") != 0
                || mssim_platform(s, MSSIM_NV_ON, "TPM_SIGNAL_NV_ON") != 0)
            goto fail;
    } else {
        /* Whether swtpm listens at all, then its locality. */
        if (sock_connect(s, s->port, "swtpm", &s->fd) != 0)
            goto fail;
        close_fd(&s->fd);
        if (sock_set_locality((TSS2_TCTI_CONTEXT *)s, 0) != TSS2_RC_SUCCESS)
            goto fail;
    }
    *out = (TSS2_TCTI_CONTEXT *)s;
    return TSS2_RC_SUCCESS;

 fail:
    if (err != NULL)
        snprintf(err, errlen, "%s", s->err);
    close_fd(&s->fd);
    close_fd(&s->platform_fd);
    if (s->timed_out)
        rc = TSS2_TCTI_RC_TRY_AGAIN;
    OPENSSL_free(s);
    return rc;
}

void esys_tcti_socket_free(TSS2_TCTI_CONTEXT *tcti)
{
    if (tcti == NULL)
        return;
    sock_finalize(tcti);
    OPENSSL_free(tcti);
}

void esys_tcti_socket_forget(TSS2_TCTI_CONTEXT *tcti)
{
    TCTI_SOCK *s = sock_of(tcti);

    if (s == NULL)
        return;
    /* close() sends nothing while the parent holds the same sockets. */
    close_fd(&s->platform_fd);
    close_fd(&s->fd);
    OPENSSL_free(s);
}

const char *esys_tcti_socket_error(TSS2_TCTI_CONTEXT *tcti)
{
    TCTI_SOCK *s = sock_of(tcti);

    return s != NULL && s->err[0] != '\0' ? s->err : NULL;
}
