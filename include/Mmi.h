/*
 * Mmi.h - the Management Module Interface (MMI) of osconfig-rs modules.
 *
 * A module is a shared library that exports the six functions below with the C calling convention.
 * Hosts (the osconfig platform, the module host, the recipe runner) load it with dlopen and call only these.
 * The Rust side of this header is the crate osconfig-mmi (src/mmi/src/abi.rs); tests compile C modules
 * against this file and load them with the Rust loader, so the two cannot drift apart unnoticed.
 *
 * Contract, in short:
 *  - Every int-returning function answers MMI_OK (0) or an errno value (EINVAL 22 for an unknown or empty
 *    component, object or session, or a bad payload; EPERM 1 for MmiSet on a module without desired objects;
 *    ENOMEM 12; E2BIG 7 for a payload over the session's limit).
 *  - Payloads are (pointer, length) pairs holding UTF-8 JSON. The length is authoritative: a reader takes exactly
 *    payloadSizeBytes bytes and never looks for a terminating NUL. A module should still allocate length + 1 bytes
 *    with malloc and put a NUL at the end, because some hosts treat the buffer as a C string or release it with
 *    free(). Hosts of this project always release payloads with the module's own MmiFree.
 *  - On failure, MmiGetInfo and MmiGet set *payload to NULL and *payloadSizeBytes to 0.
 *  - Component and object names are non-empty, NUL-terminated UTF-8 strings.
 */
#ifndef OSCONFIG_RS_MMI_H
#define OSCONFIG_RS_MMI_H

#ifdef __cplusplus
extern "C" {
#endif

/* An opaque client session, created by MmiOpen and ended by MmiClose. NULL means "no session". */
typedef void* MMI_HANDLE;

/* A JSON payload. Not NUL-terminated by contract: always paired with a byte count. */
typedef char* MMI_JSON_STRING;

/* The status of a successful call. Any other value is an errno code. */
#define MMI_OK 0

/*
 * Describe the module: writes a JSON object to *payload (malloc'd, release with MmiFree) and its length to
 * *payloadSizeBytes. May be called before any MmiOpen. Keys: Name, Description, Manufacturer, VersionInfo (strings),
 * Components (non-empty array of unique component names), Lifetime (0 undefined, 1 keep loaded, 2 short-lived);
 * optional VersionMajor, VersionMinor, VersionPatch, VersionTweak, UserAccount (integers), LicenseUri, ProjectUri.
 */
int MmiGetInfo(const char* clientName, MMI_JSON_STRING* payload, int* payloadSizeBytes);

/*
 * Start a client session. maxPayloadSizeBytes bounds every payload of the session in bytes (0: no limit).
 * Returns a non-NULL handle, or NULL on failure. Several sessions may be open at the same time.
 */
MMI_HANDLE MmiOpen(const char* clientName, const unsigned int maxPayloadSizeBytes);

/* End a session. The handle must not be used afterwards. */
void MmiClose(MMI_HANDLE clientSession);

/*
 * Apply one desired object: payload holds payloadSizeBytes bytes of the object's JSON value only (not wrapped in
 * the component or object name). Applying the same value again must succeed and change nothing.
 */
int MmiSet(MMI_HANDLE clientSession, const char* componentName, const char* objectName,
           const MMI_JSON_STRING payload, const int payloadSizeBytes);

/*
 * Read one reported object: writes its JSON value to *payload (malloc'd, release with MmiFree) and its length to
 * *payloadSizeBytes. Never answers MMI_OK with a NULL or empty payload. A value that does not fit the session's
 * limit is an E2BIG error, never truncated JSON.
 */
int MmiGet(MMI_HANDLE clientSession, const char* componentName, const char* objectName,
           MMI_JSON_STRING* payload, int* payloadSizeBytes);

/* Release a payload returned by MmiGetInfo or MmiGet. Accepts NULL. */
void MmiFree(MMI_JSON_STRING payload);

/* The function-pointer types a host resolves with dlsym. */
typedef int (*MmiGetInfoFunction)(const char*, MMI_JSON_STRING*, int*);
typedef MMI_HANDLE (*MmiOpenFunction)(const char*, const unsigned int);
typedef void (*MmiCloseFunction)(MMI_HANDLE);
typedef int (*MmiSetFunction)(MMI_HANDLE, const char*, const char*, const MMI_JSON_STRING, const int);
typedef int (*MmiGetFunction)(MMI_HANDLE, const char*, const char*, MMI_JSON_STRING*, int*);
typedef void (*MmiFreeFunction)(MMI_JSON_STRING);

#ifdef __cplusplus
}
#endif

#endif /* OSCONFIG_RS_MMI_H */
