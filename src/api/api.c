// SPDX-License-Identifier: MIT
#include "api.h"

#include <errno.h>
#include <stdatomic.h>
#include <jansson.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../log.h"
#include "../pci.h"
#include "../sandbox.h"
#include "../trace.h"
#include "../vmm.h"
#include "vm_config_json.h"

#define API_PREFIX "/api/v1/"

/* A request as its body comes in. */
struct request {
	char *body;
	size_t len;
	bool too_large;
	bool exit_after; /* vmm.shutdown: the VMM ends once the answer is out */
	/* an action that waits (for the main thread, the vCPUs): run by a thread of its own */
	struct reply *done; /* its answer, once the connection is resumed */
};

/*
 * What a handler answers: status and a JSON body (NULL: none). An error's body is, as
 * cloud-hypervisor's, a JSON array of messages from the top error to its cause:
 * ["Error from API", "The VM could not be paused", "VM is not running"].
 */
struct reply {
	unsigned int status;
	json_t *json;
	char msg[512]; /* the error's cause, for the log */
};

/* top: NULL, or the API's "Error from API" then top (what failed); then the cause. */
static void error_reply(struct reply *r, unsigned int status, const char *top, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void error_reply(struct reply *r, unsigned int status, const char *top, const char *fmt, ...)
{
	va_list ap;

	r->status = status;
	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
	json_decref(r->json);
	r->json = top ? json_pack("[s, s, s]", "Error from API", top, r->msg)
		      : json_pack("[s]", r->msg);
}

/*
 * cloud-hypervisor's status codes: 204 done, 404 no VM, 400 a bad configuration, 500 an
 * action the state does not allow or that failed.
 */
static void action_reply(struct reply *r, enum vmm_error e, const char *what, const char *err)
{
	static const unsigned int status[] = {
		[VMM_EINVAL] = MHD_HTTP_BAD_REQUEST,
		[VMM_ESTATE] = MHD_HTTP_INTERNAL_SERVER_ERROR,
		[VMM_ENOVM] = MHD_HTTP_NOT_FOUND,
		[VMM_EFAIL] = MHD_HTTP_INTERNAL_SERVER_ERROR,
	};

	if (e == VMM_OK)
		r->status = MHD_HTTP_NO_CONTENT;
	else
		error_reply(r, status[e], what, "%s", err);
}

/* cloud-hypervisor's BDF of a device at slot on segment 0, bus 0 ("0000:00:01.0"). */
static const char *pci_bdf(unsigned int slot, char bdf[16])
{
	snprintf(bdf, 16, "0000:00:%02x.0", slot);
	return bdf;
}

static json_t *parse_body(const struct request *rq, const char *what, struct reply *r)
{
	json_error_t je;
	json_t *j;

	if (!rq->len) {
		error_reply(r, MHD_HTTP_BAD_REQUEST, what,
			    "the request has no body (a JSON object)");
		return NULL;
	}
	j = json_loadb(rq->body, rq->len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		error_reply(r, MHD_HTTP_BAD_REQUEST, what,
			    "Failed to deserialize JSON: %s at line %d column %d", je.text, je.line,
			    je.column);
	return j;
}

static void ping(struct vmm *m, const struct request *rq, struct reply *r)
{
	(void)m, (void)rq;
	r->status = MHD_HTTP_OK;
	r->json = json_pack("{s:s, s:s, s:I, s:[s, s, s]}", "build_version", DEJAVM_VERSION,
			    "version", DEJAVM_VERSION, "pid", (json_int_t)getpid(), "features",
			    "record", "deterministic", "snapshot");
}

static void vmm_shutdown_h(struct vmm *m, const struct request *rq, struct reply *r)
{
	(void)m;
	((struct request *)rq)->exit_after = true; /* request_done() calls vmm_exit() */
	r->status = MHD_HTTP_OK;		   /* cloud-hypervisor's: 200, an empty body */
}

static void create(struct vmm *m, const struct request *rq, struct reply *r)
{
	static const char what[] = "The VM could not be created";
	json_t *j = parse_body(rq, what, r);
	struct vm_config cfg;
	char err[512];

	if (!j)
		return;
	if (config_from_json(j, &cfg, err, sizeof(err)))
		error_reply(r, MHD_HTTP_BAD_REQUEST, what, "%s", err);
	else
		action_reply(r, vmm_create(m, &cfg, err, sizeof(err)), what, err);
	json_decref(j); /* vmm_create copied the strings */
}

/* The one string field of body (vm.snapshot's destination_url, vm.restore's source_url). */
static const char *url_field(json_t *j, const char *field, const char *what, struct reply *r)
{
	const char *key, *url = NULL;
	json_t *v;

	json_object_foreach(j, key, v)
	{
		if (!strcmp(key, field) && json_is_string(v)) {
			url = json_string_value(v);
		} else if (!strcmp(key, field)) {
			error_reply(r, MHD_HTTP_BAD_REQUEST, what, "%s: expected a string", field);
			return NULL;
		} else if (strcmp(key, "prefault") || !json_is_boolean(v)) {
			/* prefault: the memory is read in whole anyway; net_fds: no fd passing */
			error_reply(r, MHD_HTTP_BAD_REQUEST, what, "%s: unknown field%s", key,
				    strcmp(key, "prefault") ? "" : " (prefault is true or false)");
			return NULL;
		}
	}
	if (!url)
		error_reply(r, MHD_HTTP_BAD_REQUEST, what, "%s: missing (file:///DIR)", field);
	return url;
}

/* vm.snapshot {"destination_url": "file:///DIR"}, vm.restore {"source_url": ...}: 204. */
static void snapshot_or_restore(struct vmm *m, const struct request *rq, struct reply *r,
				bool restore)
{
	const char *what =
		restore ? "The VM could not be restored" : "The VM could not be snapshotted";
	json_t *j = parse_body(rq, what, r);
	const char *url;
	char err[512];

	if (!j)
		return;
	if (!json_is_object(j))
		error_reply(r, MHD_HTTP_BAD_REQUEST, what, "the body is not a JSON object");
	else if ((url = url_field(j, restore ? "source_url" : "destination_url", what, r)))
		action_reply(r,
			     restore ? vmm_restore(m, url, NULL, true, true, err, sizeof(err))
				     : vmm_snapshot(m, url, err, sizeof(err)),
			     what, err);
	json_decref(j);
}

static void snapshot(struct vmm *m, const struct request *rq, struct reply *r)
{
	snapshot_or_restore(m, rq, r, false);
}

static void restore(struct vmm *m, const struct request *rq, struct reply *r)
{
	snapshot_or_restore(m, rq, r, true);
}

/* vm.add-disk, vm.add-net, vm.add-rng: 200 with PciDeviceInfo {id, bdf}. */
static void add_device(struct vmm *m, const struct request *rq, struct reply *r, const char *kind)
{
	const char *what = !strcmp(kind, "vm.add-disk") ? "The disk could not be added to the VM"
			   : !strcmp(kind, "vm.add-net")
				   ? "The network device could not be added to the VM"
				   : "The rng device could not be added to the VM";
	json_t *j = parse_body(rq, what, r);
	struct vmm_new_device dev;
	char err[512], bdf[16];
	enum vmm_error e;
	struct disk_config d;
	struct net_config n;
	const char *src;

	if (!j)
		return;
	if (!strcmp(kind, "vm.add-disk"))
		e = disk_from_json(j, "DiskConfig", &d, err, sizeof(err))
			    ? VMM_EINVAL
			    : vmm_add_disk(m, &d, &dev, err, sizeof(err));
	else if (!strcmp(kind, "vm.add-net"))
		e = net_from_json(j, "NetConfig", &n, err, sizeof(err))
			    ? VMM_EINVAL
			    : vmm_add_net(m, &n, &dev, err, sizeof(err));
	else
		e = rng_from_json(j, "RngConfig", &src, err, sizeof(err))
			    ? VMM_EINVAL
			    : vmm_add_rng(m, src, &dev, err, sizeof(err));
	json_decref(j);
	if (e) {
		action_reply(r, e, what, err);
		return;
	}
	r->status = MHD_HTTP_OK; /* PciDeviceInfo: id, then bdf */
	r->json = json_pack("{s:s, s:s}", "id", dev.id, "bdf", pci_bdf(dev.slot, bdf));
}

static void add_disk(struct vmm *m, const struct request *rq, struct reply *r)
{
	add_device(m, rq, r, "vm.add-disk");
}

static void add_net(struct vmm *m, const struct request *rq, struct reply *r)
{
	add_device(m, rq, r, "vm.add-net");
}

static void add_rng(struct vmm *m, const struct request *rq, struct reply *r)
{
	add_device(m, rq, r, "vm.add-rng");
}

#define ACTION(name, fn, what)                                                     \
	static void name(struct vmm *m, const struct request *rq, struct reply *r) \
	{                                                                          \
		char err[512];                                                     \
                                                                                   \
		(void)rq;                                                          \
		action_reply(r, fn(m, err, sizeof(err)), what, err);               \
	}
ACTION(put_vm_boot, vmm_boot, "The VM could not boot")
ACTION(put_vm_pause, vmm_pause, "The VM could not be paused")
ACTION(put_vm_resume, vmm_resume, "The VM could not resume")
ACTION(put_vm_shutdown, vmm_shutdown, "The VM could not shutdown")
ACTION(put_vm_reboot, vmm_reboot, "The VM could not reboot")
ACTION(put_vm_delete, vmm_delete, "The VM could not be deleted")

/*
 * device_tree as cloud-hypervisor builds it: each virtio device ("_disk0") is the child of its
 * PCI transport ("_virtio-pci-_disk0"), which holds the BARs and the BDF.
 */
static json_t *device_tree(const struct vm *vm)
{
	json_t *tree = json_object();

	for (unsigned int i = 0; i < vm->nr_devices; i++) {
		const struct vm_device *d = &vm->devices[i];
		json_t *res = json_array();
		char pci_id[64], bdf[16];

		snprintf(pci_id, sizeof(pci_id), "_virtio-pci-%s", d->id);
		pci_bdf(d->pci->slot, bdf);
		for (unsigned int b = 0; b < PCI_NUM_BARS; b++) {
			const struct pci_bar *bar = &d->pci->bar[b];

			if (!bar->size)
				continue;
			json_array_append_new(res,
					      json_pack("{s:{s:i, s:I, s:I, s:s, s:b}}", "PciBar",
							"index", b, "base", (json_int_t)bar->addr,
							"size", (json_int_t)bar->size, "type_",
							bar->io	    ? "Io"
							: bar->is64 ? "Mmio64"
								    : "Mmio32",
							"prefetchable", bar->prefetch));
		}
		json_object_set_new(tree, d->id,
				    json_pack("{s:s, s:[], s:s, s:[]}", "id", d->id, "resources",
					      "parent", pci_id, "children"));
		json_object_set_new(tree, pci_id,
				    json_pack("{s:s, s:o, s:[s], s:s}", "id", pci_id, "resources",
					      res, "children", d->id, "pci_bdf", bdf));
	}
	return tree;
}

/* dejavm's own part of vm.info: the recording. */
static json_t *recording(const struct vmm *m)
{
	uint64_t bytes = 0, frames = 0, events = 0;
	const char *state = "none";

	if (!m->cfg.record_path)
		return json_null();
	if (vmm_vm_built(m) && m->vm.trace) {
		trace_written(m->vm.trace, &bytes, &frames);
		events = trace_events_emitted(m->vm.trace);
		state = "recording";
	} else if (m->recorded) {
		state = "finished";
	}
	return json_pack("{s:s, s:s, s:I, s:I, s:I}", "path", m->cfg.record_path, "state", state,
			 "events", (json_int_t)events, "bytes", (json_int_t)bytes, "frames",
			 (json_int_t)frames);
}

static void info(struct vmm *m, const struct request *rq, struct reply *r)
{
	(void)rq;
	pthread_mutex_lock(&m->lock);
	if (m->state == VMM_NO_VM) {
		error_reply(r, MHD_HTTP_NOT_FOUND, "The VM info is not available",
			    "VM is not created");
	} else {
		r->status = MHD_HTTP_OK;
		/* device_tree once the VM is built, as cloud-hypervisor */
		r->json = json_pack("{s:o, s:s, s:I, s:{s:o, s:i, s:i}}", "config",
				    config_to_json(&m->cfg), "state", vmm_state_name(m->state),
				    "memory_actual_size", (json_int_t)m->cfg.mem_size, "dejavm",
				    "recording", recording(m), "boots", m->boots, "exit_status",
				    m->status);
		if (vmm_vm_built(m))
			json_object_set_new(r->json, "device_tree", device_tree(&m->vm));
	}
	pthread_mutex_unlock(&m->lock);
}

static void counters(struct vmm *m, const struct request *rq, struct reply *r)
{
	(void)rq;
	pthread_mutex_lock(&m->lock);
	if (!vmm_vm_built(m)) {
		error_reply(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "The VM info is not available",
			    "VM is not running (it is %s)",
			    m->state == VMM_NO_VM ? "not created" : vmm_state_name(m->state));
		goto out;
	}
	r->status = MHD_HTTP_OK;
	r->json = json_object();
	for (unsigned int i = 0; i < m->vm.nr_devices; i++) {
		const struct vm_device *d = &m->vm.devices[i];
		const struct vm_counters *c = &d->counters;

		if (!strcmp(d->kind, "disk"))
			json_object_set_new(r->json, d->id,
					    json_pack("{s:I, s:I, s:I, s:I}", "read_bytes",
						      (json_int_t)c->read_bytes, "write_bytes",
						      (json_int_t)c->write_bytes, "read_ops",
						      (json_int_t)c->read_ops, "write_ops",
						      (json_int_t)c->write_ops));
		else if (!strcmp(d->kind, "net"))
			json_object_set_new(r->json, d->id,
					    json_pack("{s:I, s:I, s:I, s:I}", "rx_bytes",
						      (json_int_t)c->rx_bytes, "rx_frames",
						      (json_int_t)c->rx_frames, "tx_bytes",
						      (json_int_t)c->tx_bytes, "tx_frames",
						      (json_int_t)c->tx_frames));
	}
out:
	pthread_mutex_unlock(&m->lock);
}

/* waits: the action waits for another thread, so it runs on one of its own (run_waiting). */
static const struct route {
	const char *path;
	const char *method;
	void (*fn)(struct vmm *m, const struct request *rq, struct reply *r);
	bool waits;
} routes[] = {
	{"vmm.ping", "GET", ping, false},
	{"vmm.shutdown", "PUT", vmm_shutdown_h, false},
	{"vm.create", "PUT", create, false},
	{"vm.boot", "PUT", put_vm_boot, true},
	{"vm.info", "GET", info, false},
	{"vm.counters", "GET", counters, false},
	{"vm.pause", "PUT", put_vm_pause, true},
	{"vm.resume", "PUT", put_vm_resume, false},
	{"vm.shutdown", "PUT", put_vm_shutdown, true},
	{"vm.reboot", "PUT", put_vm_reboot, true},
	{"vm.delete", "PUT", put_vm_delete, true},
	{"vm.add-disk", "PUT", add_disk, false},
	{"vm.add-net", "PUT", add_net, false},
	{"vm.add-rng", "PUT", add_rng, false},
	{"vm.snapshot", "PUT", snapshot, true},
	{"vm.restore", "PUT", restore, true},
};

/* An action that waits, on its own thread: the server's threads go on serving the others. */
struct waiting {
	struct api *api;
	struct MHD_Connection *c;
	struct request *rq;
	const struct route *route;
};

static void *run_waiting(void *arg)
{
	struct waiting *w = arg;
	struct api *a = w->api;

	seccomp_install(SECCOMP_API, "api-action"); /* (on top of its server thread's) */
	w->route->fn(a->vmm, w->rq, w->rq->done);
	MHD_resume_connection(w->c); /* handle() is called again and sends rq->done */
	free(w);
	atomic_fetch_sub(&a->nr_waiting, 1);
	return NULL;
}

/* Returns true when the route was started on its own thread (the connection is suspended). */
static bool start_waiting(struct api *a, struct MHD_Connection *c, struct request *rq,
			  const struct route *route, struct reply *r)
{
	struct waiting *w = calloc(1, sizeof(*w));
	pthread_attr_t attr;
	pthread_t t;
	int e;

	rq->done = calloc(1, sizeof(*rq->done));
	if (!w || !rq->done) {
		free(w);
		free(rq->done);
		rq->done = NULL;
		error_reply(r, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "out of memory");
		return false;
	}
	*w = (struct waiting){a, c, rq, route};
	atomic_fetch_add(&a->nr_waiting, 1);
	MHD_suspend_connection(c);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	e = pthread_create(&t, &attr, run_waiting, w);
	pthread_attr_destroy(&attr);
	if (e) {
		MHD_resume_connection(c);
		atomic_fetch_sub(&a->nr_waiting, 1);
		free(w);
		free(rq->done);
		rq->done = NULL;
		error_reply(r, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "cannot start a thread: %s",
			    strerror(e));
		return false;
	}
	return true;
}

/* The route of url and method, or NULL with the error in r. */
static const struct route *find_route(const char *url, const char *method, const struct request *rq,
				      struct reply *r, const char **allow)
{
	const char *name = url + strlen(API_PREFIX);

	if (strncmp(url, API_PREFIX, strlen(API_PREFIX))) {
		error_reply(r, MHD_HTTP_NOT_FOUND, NULL, "Not Found: %s (API paths start with %s)",
			    url, API_PREFIX);
		return NULL;
	}
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(routes[i].path, name))
			continue;
		if (strcmp(routes[i].method, method)) {
			*allow = routes[i].method;
			error_reply(r, MHD_HTTP_METHOD_NOT_ALLOWED, NULL,
				    "Method Not Allowed: %s %s (use %s)", method, url,
				    routes[i].method);
			return NULL;
		}
		if (rq->too_large) {
			error_reply(r, MHD_HTTP_CONTENT_TOO_LARGE, NULL,
				    "Payload Too Large: %s: the body is over %u bytes", url,
				    API_MAX_BODY);
			return NULL;
		}
		return &routes[i];
	}
	error_reply(r, MHD_HTTP_NOT_FOUND, NULL, "Not Found: %s: no such endpoint", url);
	return NULL;
}

unsigned int api_serve(struct vmm *m, const char *method, const char *url, const char *body,
		       size_t len, char **json, const char **allow)
{
	struct request rq = {.body = (char *)body, .len = len, .too_large = len > API_MAX_BODY};
	struct reply r = {0};
	const struct route *route;

	*allow = NULL;
	if ((route = find_route(url, method, &rq, &r, allow)))
		route->fn(m, &rq, &r);
	*json = r.json ? json_dumps(r.json, JSON_COMPACT) : NULL;
	json_decref(r.json);
	return r.status;
}

static enum MHD_Result send_reply(struct MHD_Connection *c, struct reply *r, const char *allow)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char *text = NULL;

	if (r->json) {
		text = json_dumps(r->json, JSON_COMPACT);
		json_decref(r->json);
	}
	if (text) {
		resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
		if (resp)
			MHD_add_response_header(resp, "Content-Type", "application/json");
	} else {
		resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
	}
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	if (allow)
		MHD_add_response_header(resp, "Allow", allow);
	ret = MHD_queue_response(c, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	static __thread bool filtered; /* libmicrohttpd's threads: before any VM data */
	struct api *a = cls;
	struct request *rq = *con_cls;
	struct reply r = {0};
	const char *allow = NULL, *clen;
	const struct route *route;

	(void)version;
	if (!filtered && seccomp_install(SECCOMP_API, "api")) {
		/* (the filter itself failed: answered here, nothing else done on this thread) */
		error_reply(&r, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL,
			    "the API thread's system-call filter: see the VMM's log");
		return send_reply(c, &r, NULL);
	}
	filtered = true;
	if (!rq) { /* the headers are in: the body (if any) follows */
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		clen = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
		rq->too_large = clen && strtoull(clen, NULL, 10) > API_MAX_BODY;
		*con_cls = rq;
		return MHD_YES;
	}
	if (*upload_size) {
		if (!rq->too_large && rq->len + *upload_size <= API_MAX_BODY) {
			char *b = realloc(rq->body, rq->len + *upload_size);

			if (!b)
				return MHD_NO;
			memcpy(b + rq->len, upload, *upload_size);
			rq->body = b;
			rq->len += *upload_size;
		} else {
			rq->too_large = true; /* the rest is read and dropped */
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (rq->done) { /* resumed: the action that waited is over */
		r = *rq->done;
		free(rq->done);
		rq->done = NULL;
	} else if ((route = find_route(url, method, rq, &r, &allow))) {
		if (route->waits && start_waiting(a, c, rq, route, &r))
			return MHD_YES;
		if (!r.status)
			route->fn(a->vmm, rq, &r);
	}
	if (r.status >= 400)
		log_info("API %s %s: %u %s", method, url, r.status, r.msg);
	return send_reply(c, &r, allow);
}

static void request_done(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode why)
{
	struct request *rq = *con_cls;
	struct api *a = cls;

	(void)c, (void)why;
	if (rq && rq->exit_after)
		vmm_exit(a->vmm);
	if (rq) {
		free(rq->body);
		if (rq->done)
			json_decref(rq->done->json);
		free(rq->done);
	}
	free(rq);
	*con_cls = NULL;
}

/* A socket file at path: a VMM that answers owns it, one that does not is stale. */
static int claim_path(const char *path, const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, r;

	if (lstat(path, &st))
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		log_err("--api-socket %s: exists and is not a socket", path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	close(fd);
	if (!r) {
		log_err("--api-socket %s: another VMM is serving it", path);
		return -EADDRINUSE;
	}
	log_info("--api-socket %s: replacing a stale socket", path);
	return unlink(path) ? -errno : 0;
}

int api_start(struct api *a, struct vmm *m, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX}, tmp = {.sun_family = AF_UNIX};
	mode_t old_mask;
	int r;

	memset(a, 0, sizeof(*a));
	a->fd = -1;
	a->vmm = m;
	/* room for path and the name it is bound at first, path + "~" */
	if (strlen(path) + 1 >= sizeof(sa.sun_path)) {
		log_err("--api-socket %s: longer than %zu bytes", path, sizeof(sa.sun_path) - 2);
		return -1;
	}
	strcpy(sa.sun_path, path);
	snprintf(tmp.sun_path, sizeof(tmp.sun_path), "%s~", path);
	if ((r = claim_path(path, &sa)) && r != -EEXIST && r != -EADDRINUSE)
		log_err("--api-socket %s: %s", path, strerror(-r));
	if (r)
		return -1;
	/*
	 * Bound at path~ and renamed to path once it listens: a client that sees path can connect
	 * (bind makes the file, listen comes after: in between, connect is refused).
	 */
	unlink(tmp.sun_path);
	a->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	old_mask = umask(0177); /* the socket is created 0600: only its owner drives the VM */
	r = a->fd < 0 ? -1 : bind(a->fd, (struct sockaddr *)&tmp, sizeof(tmp));
	umask(old_mask);
	if (r || listen(a->fd, 128) || rename(tmp.sun_path, path)) {
		log_err("--api-socket %s: cannot create the socket: %s", path, strerror(errno));
		unlink(tmp.sun_path);
		goto fail;
	}
	a->path = strdup(path);
	/*
	 * A pool of event-driven threads: a client that sends nothing or half a request holds
	 * no thread, and actions that wait run on threads of their own (start_waiting).
	 */
	a->daemon = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0, NULL,
		NULL, handle, a, MHD_OPTION_LISTEN_SOCKET, a->fd, MHD_OPTION_THREAD_POOL_SIZE,
		(unsigned int)API_THREADS, MHD_OPTION_NOTIFY_COMPLETED, request_done, a,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned int)256, MHD_OPTION_END);
	if (!a->daemon) {
		log_err("--api-socket %s: the HTTP server (libmicrohttpd) did not start", path);
		goto fail;
	}
	return 0;
fail:
	if (a->fd >= 0) {
		close(a->fd);
		unlink(path);
	}
	free(a->path);
	a->path = NULL;
	a->fd = -1;
	return -1;
}

void api_stop(struct api *a)
{
	/* a suspended connection must be resumed before the server stops: the VMM is ending, so
	 * every action that waits is about to give up (at most 10 s) */
	for (int i = 0; i < 1000 && atomic_load(&a->nr_waiting); i++)
		usleep(10000);
	if (a->daemon)
		MHD_stop_daemon(a->daemon);
	a->daemon = NULL;
	if (a->fd >= 0)
		close(a->fd);
	a->fd = -1;
	if (a->path)
		unlink(a->path);
	free(a->path);
	a->path = NULL;
}
