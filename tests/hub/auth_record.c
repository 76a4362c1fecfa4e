/*
 * A mosquitto 2.0 plugin (API version 5) for the tests' local IoT Hub: records the credentials of every CONNECT
 * (client id, username, password) so the hub responder (hub.py) can check the SAS token as IoT Hub would. The broker
 * itself cannot verify a SAS signature; this plugin allows every client and leaves the verdict to the tests.
 *
 * Options: `plugin_opt_file <path>`: one line per CONNECT appended there, `<hex client id> <hex username>
 * <hex password>` (hex so that any byte survives; an absent field is `-`).
 *
 * Built by the tests (tests/e2e/common/hub.rs) with `cc -shared -fPIC`, headers from Debian's mosquitto-dev.
 */
#include <stdio.h>
#include <string.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

static mosquitto_plugin_id_t *plugin_id;
static FILE *record;

static void write_hex(const char *text)
{
    if (text == NULL) {
        fputc('-', record);
        return;
    }
    if (*text == '\0') {
        fputs("00", record); /* an empty string: one NUL byte, decoded back to "" by hub.py */
        return;
    }
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        fprintf(record, "%02x", *p);
    }
}

static int on_basic_auth(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_basic_auth *auth = event_data;
    (void)event;
    (void)userdata;
    if (record != NULL) {
        write_hex(mosquitto_client_id(auth->client));
        fputc(' ', record);
        write_hex(auth->username);
        fputc(' ', record);
        write_hex(auth->password);
        fputc('\n', record);
        fflush(record);
    }
    return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
    for (int i = 0; i < supported_version_count; i++) {
        if (supported_versions[i] == 5) {
            return 5;
        }
    }
    return -1;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata, struct mosquitto_opt *opts,
                          int opt_count)
{
    (void)userdata;
    plugin_id = identifier;
    for (int i = 0; i < opt_count; i++) {
        if (strcmp(opts[i].key, "file") == 0) {
            record = fopen(opts[i].value, "a");
        }
    }
    if (record == NULL) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "auth_record: plugin_opt_file missing or not writable");
        return MOSQ_ERR_INVAL;
    }
    return mosquitto_callback_register(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL, NULL);
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *opts, int opt_count)
{
    (void)userdata;
    (void)opts;
    (void)opt_count;
    mosquitto_callback_unregister(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
    if (record != NULL) {
        fclose(record);
        record = NULL;
    }
    return MOSQ_ERR_SUCCESS;
}
