// SPDX-License-Identifier: MIT
/*
 * dejavm-remote: cloud-hypervisor's ch-remote for dejavm's API socket. Each subcommand is one
 * HTTP request (libcurl over the unix socket); the server's JSON is printed as it came, and an
 * error response ends with status 1 and the server's messages on stderr.
 */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BODY (16u << 20)

static const struct command {
	const char *name;
	const char *method;
	const char *endpoint;
	enum { NO_ARG, CONFIG_FILE, KEY_VALUES, URL } arg;
	const char *help;
} commands[] = {
	{"ping", "GET", "vmm.ping", NO_ARG, "the VMM's version and pid"},
	{"shutdown-vmm", "PUT", "vmm.shutdown", NO_ARG, "stop the VM if it runs, and the VMM"},
	{"create", "PUT", "vm.create", CONFIG_FILE, "[FILE|-]  create the VM from a VmConfig JSON"},
	{"boot", "PUT", "vm.boot", NO_ARG, "boot the created VM"},
	{"info", "GET", "vm.info", NO_ARG, "configuration, state and device tree"},
	{"counters", "GET", "vm.counters", NO_ARG, "each device's counters"},
	{"pause", "PUT", "vm.pause", NO_ARG, "pause the vCPUs"},
	{"resume", "PUT", "vm.resume", NO_ARG, "resume them"},
	{"reboot", "PUT", "vm.reboot", NO_ARG, "tear the VM down and boot it again"},
	{"shutdown", "PUT", "vm.shutdown", NO_ARG, "shut the VM down (it can boot again)"},
	{"delete", "PUT", "vm.delete", NO_ARG, "shut down and forget the VM"},
	{"add-disk", "PUT", "vm.add-disk", KEY_VALUES,
	 "path=FILE[,readonly=on][,direct=on][,num_queues=N][,queue_size=N][,id=ID][,serial=S]"},
	{"add-net", "PUT", "vm.add-net", KEY_VALUES,
	 "tap=NAME[,mac=MAC][,ip=A.B.C.D,mask=M][,id=ID]"},
	{"add-rng", "PUT", "vm.add-rng", KEY_VALUES, "src=PATH"},
	{"snapshot", "PUT", "vm.snapshot", URL,
	 "file:///DIR  snapshot the paused VM into DIR (destination_url)"},
	{"restore", "PUT", "vm.restore", KEY_VALUES,
	 "source_url=file:///DIR[,prefault=on]  a VM from a snapshot, paused"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: dejavm-remote --api-socket PATH COMMAND [ARG]\n\n"
		   "Drives a dejavm started with --api-socket PATH, as ch-remote drives\n"
		   "cloud-hypervisor. Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].help);
	fprintf(f,
		"\nExit status: 0 on success (the server's JSON, if any, is printed), 1 when the\n"
		"server answered with an error (its messages go to stderr) or could not be\n"
		"reached, 2 on a bad command line.\n");
}

/* Keys whose values are on/off (ch-remote's toggles) and integers; the rest are strings. */
static bool is_toggle(const char *k)
{
	static const char *const keys[] = {"readonly",	 "direct",   "iommu",
					   "vhost_user", "prefault", NULL};

	for (const char *const *p = keys; *p; p++)
		if (!strcmp(*p, k))
			return true;
	return false;
}

static bool is_number(const char *k)
{
	return !strcmp(k, "num_queues") || !strcmp(k, "queue_size") || !strcmp(k, "pci_segment");
}

/* "path=/x.img,readonly=on" -> {"path": "/x.img", "readonly": true}, or NULL with a message. */
static char *kv_to_json(const char *cmd, const char *arg)
{
	json_t *o = json_object();
	char *copy = strdup(arg), *save = NULL, *out = NULL;

	for (char *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '='), *end;
		json_t *v;

		if (!eq || eq == kv) {
			fprintf(stderr, "dejavm-remote: %s: '%s': expected key=value\n", cmd, kv);
			goto out;
		}
		*eq++ = '\0';
		if (is_toggle(kv)) {
			if (strcmp(eq, "on") && strcmp(eq, "off") && strcmp(eq, "true") &&
			    strcmp(eq, "false")) {
				fprintf(stderr, "dejavm-remote: %s: %s=%s: expected on or off\n",
					cmd, kv, eq);
				goto out;
			}
			v = json_boolean(!strcmp(eq, "on") || !strcmp(eq, "true"));
		} else if (is_number(kv)) {
			long long n;

			errno = 0;
			n = strtoll(eq, &end, 10);
			if (errno || end == eq || *end || n < 0) {
				fprintf(stderr, "dejavm-remote: %s: %s=%s: expected a number\n",
					cmd, kv, eq);
				goto out;
			}
			v = json_integer(n);
		} else {
			v = json_string(eq);
		}
		if (json_object_get(o, kv)) {
			fprintf(stderr, "dejavm-remote: %s: %s given twice\n", cmd, kv);
			json_decref(v);
			goto out;
		}
		json_object_set_new(o, kv, v);
	}
	out = json_dumps(o, JSON_COMPACT);
out:
	json_decref(o);
	free(copy);
	return out;
}

static char *read_config(const char *path)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	char *buf = NULL;
	size_t len = 0, n;

	if (!f) {
		fprintf(stderr, "dejavm-remote: create: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	buf = malloc(MAX_BODY + 1);
	while (buf && (n = fread(buf + len, 1, MAX_BODY - len, f)) > 0)
		len += n;
	if (f != stdin)
		fclose(f);
	if (!buf || len == MAX_BODY) {
		fprintf(stderr, "dejavm-remote: create: %s: %s\n", path,
			buf ? "over 16 MiB" : "out of memory");
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}

struct response {
	char *data;
	size_t len;
};

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
	struct response *r = arg;
	char *d;

	if (r->len + size * n > MAX_BODY || !(d = realloc(r->data, r->len + size * n + 1)))
		return 0;
	memcpy(d + r->len, p, size * n);
	r->len += size * n;
	d[r->len] = '\0';
	r->data = d;
	return size * n;
}

/* The server's error: its messages (a JSON array of strings), one per line. */
static void print_error(const char *cmd, long status, const struct response *r)
{
	json_t *j = r->data ? json_loadb(r->data, r->len, 0, NULL) : NULL;
	size_t i;
	json_t *m;

	fprintf(stderr, "dejavm-remote: %s: the server answered %ld\n", cmd, status);
	if (json_is_array(j))
		json_array_foreach(j, i, m)
			fprintf(stderr, "  %zu: %s\n", i,
				json_is_string(m) ? json_string_value(m) : "(not a string)");
	else if (r->len)
		fprintf(stderr, "  %.*s\n", (int)r->len, r->data);
	json_decref(j);
}

int main(int argc, char **argv)
{
	const char *socket = NULL, *cmd_name = NULL, *arg = NULL;
	const struct command *cmd = NULL;
	struct response resp = {0};
	struct curl_slist *headers = NULL;
	char url[128], *body = NULL;
	long status = 0;
	CURLcode rc;
	CURL *curl;
	int ret = 1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--api-socket") && i + 1 < argc) {
			socket = argv[++i];
		} else if (!strncmp(argv[i], "--api-socket=", 13)) {
			socket = argv[i] + 13;
		} else if (!strcmp(argv[i], "--api-socket")) {
			fprintf(stderr, "dejavm-remote: --api-socket needs a PATH\n");
			return 2;
		} else if (!strncmp(argv[i], "--", 2)) {
			fprintf(stderr, "dejavm-remote: unknown option '%s' (try --help)\n",
				argv[i]);
			return 2;
		} else if (!cmd_name) {
			cmd_name = argv[i];
		} else if (!arg) {
			arg = argv[i];
		} else {
			fprintf(stderr, "dejavm-remote: unexpected argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (!socket || !cmd_name) {
		fprintf(stderr, "dejavm-remote: %s (try --help)\n",
			socket ? "a COMMAND is needed" : "--api-socket PATH is needed");
		return 2;
	}
	if (!strncmp(socket, "path=", 5))
		socket += 5;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, cmd_name))
			cmd = &commands[i];
	if (!cmd) {
		fprintf(stderr, "dejavm-remote: unknown command '%s' (try --help)\n", cmd_name);
		return 2;
	}
	if ((cmd->arg == NO_ARG && arg) || ((cmd->arg == KEY_VALUES || cmd->arg == URL) && !arg)) {
		fprintf(stderr, "dejavm-remote: %s: %s\n", cmd->name,
			arg ? "takes no argument" : "needs its configuration (try --help)");
		return 2;
	}
	if (cmd->arg == CONFIG_FILE && !(body = read_config(arg ? arg : "-")))
		return 1;
	if (cmd->arg == KEY_VALUES && !(body = kv_to_json(cmd->name, arg)))
		return 2;
	if (cmd->arg == URL) { /* ch-remote snapshot's one argument: {"destination_url": URL} */
		json_t *o = json_pack("{s:s}", "destination_url", arg);

		body = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		if (!body)
			return 1;
	}

	curl_global_init(CURL_GLOBAL_NOTHING);
	curl = curl_easy_init();
	if (!curl) {
		fprintf(stderr, "dejavm-remote: cannot start libcurl\n");
		goto out;
	}
	snprintf(url, sizeof(url), "http://localhost/api/v1/%s", cmd->endpoint);
	curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, socket);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, cmd->method);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp);
	if (!strcmp(cmd->method, "PUT")) {
		headers = curl_slist_append(headers, "Content-Type: application/json");
		headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip */
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body ? body : "");
	}
	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK) {
		fprintf(stderr, "dejavm-remote: %s: cannot reach the VMM at %s: %s\n", cmd->name,
			socket, curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (status == 200 || status == 204) {
		if (resp.len)
			printf("%.*s\n", (int)resp.len, resp.data);
		ret = 0;
	} else {
		print_error(cmd->name, status, &resp);
	}
out:
	curl_slist_free_all(headers);
	if (curl)
		curl_easy_cleanup(curl);
	curl_global_cleanup();
	free(resp.data);
	free(body);
	return ret;
}
