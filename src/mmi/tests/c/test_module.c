/*
 * A small MMI module written in C, compiled by the osconfig-mmi tests against include/Mmi.h and loaded with the
 * Rust loader. Component "CTest":
 *   desired/reported "value"  any JSON value, stored as raw bytes (default: "")
 *   reported "lastSetSize"    the payloadSizeBytes of the last MmiSet
 *   reported "frees"          how many non-NULL payloads MmiFree released so far
 *   reported "session"        {"client": <clientName>, "max": <maxPayloadSizeBytes>}
 *
 * Payloads it returns are NOT NUL-terminated and carry trailing junk after payloadSizeBytes, so a host that
 * reads them with strlen() fails the tests. Build variants (-D...) make it broken on purpose:
 *   OMIT_MMIFREE           does not export MmiFree
 *   BAD_INFO_LIFETIME      MmiGetInfo says "Lifetime": 7
 *   BAD_INFO_NO_NAME       MmiGetInfo has no "Name"
 *   BAD_INFO_COMPONENTS    MmiGetInfo lists a component twice
 *   INFO_FAILS             MmiGetInfo returns ENOMEM
 *   GET_OK_NULL            MmiGet returns MMI_OK with a NULL payload
 *   GET_OK_ZERO            MmiGet returns MMI_OK with a non-NULL payload of size 0
 *   OPEN_FAILS             MmiOpen returns NULL
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "Mmi.h"

#define JUNK "}junk\"]"

typedef struct Session {
    unsigned int magic;
    unsigned int max;
    char client[64];
} Session;

#define SESSION_MAGIC 0x4d4d4931u

static char* g_value = NULL;
static int g_value_size = 0;
static int g_last_set_size = -1;
static int g_frees = 0;

/* Copy len bytes into a fresh malloc'd buffer followed by junk and no NUL. */
static int HandOut(const char* bytes, int len, MMI_JSON_STRING* payload, int* payloadSizeBytes)
{
    size_t junk = strlen(JUNK);
    char* buf = (char*)malloc((size_t)len + junk);
    if (NULL == buf) {
        return ENOMEM;
    }
    memcpy(buf, bytes, (size_t)len);
    memcpy(buf + len, JUNK, junk);
    *payload = buf;
    *payloadSizeBytes = len;
    return MMI_OK;
}

static const char* Info(void)
{
#if defined(BAD_INFO_LIFETIME)
    return "{\"Name\":\"CTest\",\"Description\":\"d\",\"Manufacturer\":\"m\",\"VersionInfo\":\"v\","
           "\"Components\":[\"CTest\"],\"Lifetime\":7}";
#elif defined(BAD_INFO_NO_NAME)
    return "{\"Description\":\"d\",\"Manufacturer\":\"m\",\"VersionInfo\":\"v\","
           "\"Components\":[\"CTest\"],\"Lifetime\":1}";
#elif defined(BAD_INFO_COMPONENTS)
    return "{\"Name\":\"CTest\",\"Description\":\"d\",\"Manufacturer\":\"m\",\"VersionInfo\":\"v\","
           "\"Components\":[\"CTest\",\"CTest\"],\"Lifetime\":1}";
#else
    return "{\"Name\":\"CTest\",\"Description\":\"A test module in C\",\"Manufacturer\":\"osconfig-rs\","
           "\"VersionMajor\":2,\"VersionMinor\":1,\"VersionInfo\":\"c\",\"Components\":[\"CTest\"],"
           "\"Lifetime\":2,\"UserAccount\":0,\"ExtraKey\":{\"ignored\":true}}";
#endif
}

int MmiGetInfo(const char* clientName, MMI_JSON_STRING* payload, int* payloadSizeBytes)
{
    const char* info = Info();
    if (NULL == clientName || NULL == payload || NULL == payloadSizeBytes) {
        return EINVAL;
    }
    *payload = NULL;
    *payloadSizeBytes = 0;
#if defined(INFO_FAILS)
    (void)info;
    return ENOMEM;
#else
    return HandOut(info, (int)strlen(info), payload, payloadSizeBytes);
#endif
}

MMI_HANDLE MmiOpen(const char* clientName, const unsigned int maxPayloadSizeBytes)
{
    Session* s = NULL;
#if defined(OPEN_FAILS)
    (void)s;
    (void)clientName;
    (void)maxPayloadSizeBytes;
    return NULL;
#else
    if (NULL == clientName) {
        return NULL;
    }
    s = (Session*)calloc(1, sizeof(Session));
    if (NULL == s) {
        return NULL;
    }
    s->magic = SESSION_MAGIC;
    s->max = maxPayloadSizeBytes;
    snprintf(s->client, sizeof(s->client), "%s", clientName);
    return (MMI_HANDLE)s;
#endif
}

void MmiClose(MMI_HANDLE clientSession)
{
    Session* s = (Session*)clientSession;
    if (NULL != s && SESSION_MAGIC == s->magic) {
        s->magic = 0;
        free(s);
    }
}

static int ValidSession(MMI_HANDLE clientSession)
{
    Session* s = (Session*)clientSession;
    return NULL != s && SESSION_MAGIC == s->magic;
}

int MmiSet(MMI_HANDLE clientSession, const char* componentName, const char* objectName,
           const MMI_JSON_STRING payload, const int payloadSizeBytes)
{
    char* copy = NULL;
    if (!ValidSession(clientSession) || NULL == componentName || NULL == objectName || NULL == payload ||
        payloadSizeBytes <= 0) {
        return EINVAL;
    }
    if (0 != strcmp(componentName, "CTest") || 0 != strcmp(objectName, "value")) {
        return EINVAL;
    }
    copy = (char*)malloc((size_t)payloadSizeBytes);
    if (NULL == copy) {
        return ENOMEM;
    }
    memcpy(copy, payload, (size_t)payloadSizeBytes);
    free(g_value);
    g_value = copy;
    g_value_size = payloadSizeBytes;
    g_last_set_size = payloadSizeBytes;
    return MMI_OK;
}

int MmiGet(MMI_HANDLE clientSession, const char* componentName, const char* objectName,
           MMI_JSON_STRING* payload, int* payloadSizeBytes)
{
    char text[256];
    Session* s = (Session*)clientSession;
    if (NULL == payload || NULL == payloadSizeBytes) {
        return EINVAL;
    }
    *payload = NULL;
    *payloadSizeBytes = 0;
    if (!ValidSession(clientSession) || NULL == componentName || NULL == objectName ||
        0 != strcmp(componentName, "CTest")) {
        return EINVAL;
    }
#if defined(GET_OK_NULL)
    (void)text;
    (void)s;
    return MMI_OK;
#elif defined(GET_OK_ZERO)
    (void)text;
    (void)s;
    *payload = (char*)malloc(1);
    return MMI_OK;
#else
    if (0 == strcmp(objectName, "value")) {
        if (NULL == g_value) {
            return HandOut("\"\"", 2, payload, payloadSizeBytes);
        }
        return HandOut(g_value, g_value_size, payload, payloadSizeBytes);
    } else if (0 == strcmp(objectName, "lastSetSize")) {
        snprintf(text, sizeof(text), "%d", g_last_set_size);
    } else if (0 == strcmp(objectName, "frees")) {
        snprintf(text, sizeof(text), "%d", g_frees);
    } else if (0 == strcmp(objectName, "session")) {
        snprintf(text, sizeof(text), "{\"client\":\"%s\",\"max\":%u}", s->client, s->max);
    } else {
        return EINVAL;
    }
    return HandOut(text, (int)strlen(text), payload, payloadSizeBytes);
#endif
}

#if !defined(OMIT_MMIFREE)
void MmiFree(MMI_JSON_STRING payload)
{
    if (NULL != payload) {
        g_frees++;
        free(payload);
    }
}
#endif
