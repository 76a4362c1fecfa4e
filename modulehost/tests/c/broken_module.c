/* A module that is broken on purpose, one way per build flag (for the host's start-up checks):
 *   -DOMIT_FREE   does not export MmiFree
 *   -DINFO_ERRNO  MmiGetInfo fails with EIO
 *   -DINFO_BAD    MmiGetInfo answers JSON without Components
 *   -DINFO_HANG   MmiGetInfo never returns
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int MmiGetInfo(const char* clientName, char** payload, int* payloadSizeBytes);
void* MmiOpen(const char* clientName, const unsigned int maxPayloadSizeBytes);
void MmiClose(void* clientSession);
int MmiSet(void* clientSession, const char* componentName, const char* objectName, const char* payload,
           const int payloadSizeBytes);
int MmiGet(void* clientSession, const char* componentName, const char* objectName, char** payload,
           int* payloadSizeBytes);
void MmiFree(char* payload);

#ifndef INFO_ERRNO
static const char info[] =
#ifdef INFO_BAD
    "{\"Name\":\"Broken\",\"Description\":\"d\",\"Manufacturer\":\"m\",\"VersionInfo\":\"v\",\"Lifetime\":1}";
#else
    "{\"Name\":\"Broken\",\"Description\":\"d\",\"Manufacturer\":\"m\",\"VersionInfo\":\"v\",\"Components\":[\"Broken\"],"
    "\"Lifetime\":1}";
#endif
#endif

int MmiGetInfo(const char* clientName, char** payload, int* payloadSizeBytes) {
    (void)clientName;
    *payload = NULL;
    *payloadSizeBytes = 0;
#ifdef INFO_HANG
    for (;;) sleep(3600);
#endif
#ifdef INFO_ERRNO
    return EIO;
#else
    *payload = malloc(sizeof info);
    if (*payload == NULL) return ENOMEM;
    memcpy(*payload, info, sizeof info);
    *payloadSizeBytes = (int)(sizeof info - 1);
    return 0;
#endif
}

void* MmiOpen(const char* clientName, const unsigned int maxPayloadSizeBytes) {
    (void)clientName;
    (void)maxPayloadSizeBytes;
    return NULL;
}

void MmiClose(void* clientSession) { (void)clientSession; }

int MmiSet(void* clientSession, const char* componentName, const char* objectName, const char* payload,
           const int payloadSizeBytes) {
    (void)clientSession;
    (void)componentName;
    (void)objectName;
    (void)payload;
    (void)payloadSizeBytes;
    return EINVAL;
}

int MmiGet(void* clientSession, const char* componentName, const char* objectName, char** payload,
           int* payloadSizeBytes) {
    (void)clientSession;
    (void)componentName;
    (void)objectName;
    *payload = NULL;
    *payloadSizeBytes = 0;
    return EINVAL;
}

#ifndef OMIT_FREE
void MmiFree(char* payload) { free(payload); }
#endif
