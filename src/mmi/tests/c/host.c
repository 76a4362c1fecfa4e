/*
 * A C host for the osconfig-mmi tests: dlopens a module built with the Rust SDK (the fixture module) and checks
 * the C side of the contract through all six functions.
 *
 *   host <module.so>          run every check, print "PASS" and exit 0, or print the failed check and exit 1
 *   host <module.so> crash    call MmiGet(Fixture, crash) (the process must die of SIGABRT)
 *   host <module.so> hang     call MmiGet(Fixture, hang) (the process must not return)
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "Mmi.h"

static MmiGetInfoFunction GetInfo;
static MmiOpenFunction Open;
static MmiCloseFunction Close;
static MmiSetFunction Set;
static MmiGetFunction Get;
static MmiFreeFunction Free;

static int g_failures = 0;

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "host.c:%d: check failed: %s\n", __LINE__, #cond); \
            g_failures++;                                                    \
        }                                                                    \
    } while (0)

static void* Symbol(void* lib, const char* name)
{
    void* p = dlsym(lib, name);
    if (NULL == p) {
        fprintf(stderr, "missing symbol %s: %s\n", name, dlerror());
        exit(2);
    }
    return p;
}

/* MmiGet and check the answer is exactly `expected` (length, bytes, NUL after the last byte). */
static void ExpectGet(MMI_HANDLE h, const char* component, const char* object, const char* expected)
{
    MMI_JSON_STRING payload = (MMI_JSON_STRING)"sentinel";
    int size = -5;
    int rc = Get(h, component, object, &payload, &size);
    CHECK(MMI_OK == rc);
    if (MMI_OK != rc) {
        fprintf(stderr, "  MmiGet(%s, %s) = %d\n", component, object, rc);
        return;
    }
    CHECK(NULL != payload);
    CHECK(size == (int)strlen(expected));
    CHECK(NULL != payload && '\0' == payload[size]);
    CHECK(NULL != payload && (int)strlen(payload) == size);
    CHECK(NULL != payload && 0 == memcmp(payload, expected, strlen(expected)));
    if (NULL != payload && (size != (int)strlen(expected) || 0 != memcmp(payload, expected, strlen(expected)))) {
        fprintf(stderr, "  MmiGet(%s, %s) = %.*s, expected %s\n", component, object, size, payload, expected);
    }
    Free(payload);
}

/* MmiGet that must fail with `expected_rc`, leaving NULL and 0 behind. */
static void ExpectGetError(MMI_HANDLE h, const char* component, const char* object, int expected_rc)
{
    MMI_JSON_STRING payload = (MMI_JSON_STRING)"sentinel";
    int size = -5;
    int rc = Get(h, component, object, &payload, &size);
    CHECK(expected_rc == rc);
    if (expected_rc != rc) {
        fprintf(stderr, "  MmiGet(%s, %s) = %d, expected %d\n", component, object, rc, expected_rc);
    }
    CHECK(NULL == payload);
    CHECK(0 == size);
}

static int RunChecks(void)
{
    MMI_JSON_STRING payload = NULL;
    int size = 0;
    int rc;
    MMI_HANDLE h;
    MMI_HANDLE small;
    char buffer[16];
    int bogus = 0;

    /* MmiGetInfo: NUL-terminated, length matches, our module's name. */
    rc = GetInfo("c-host", &payload, &size);
    CHECK(MMI_OK == rc);
    CHECK(NULL != payload && size > 0);
    if (NULL != payload) {
        CHECK('\0' == payload[size]);
        CHECK((int)strlen(payload) == size);
        CHECK(NULL != strstr(payload, "\"Name\":\"Fixture\""));
        CHECK(NULL != strstr(payload, "\"Lifetime\":1"));
        Free(payload);
    }
    CHECK(EINVAL == GetInfo(NULL, &payload, &size));
    CHECK(EINVAL == GetInfo("c-host", NULL, &size));
    CHECK(0 == size);
    payload = (MMI_JSON_STRING)"sentinel";
    CHECK(EINVAL == GetInfo("c-host", &payload, NULL));
    CHECK(NULL == payload);

    /* MmiOpen */
    CHECK(NULL == Open(NULL, 0));
    CHECK(NULL == Open("refuse", 0));
    h = Open("c-host", 0);
    CHECK(NULL != h);
    if (NULL == h) {
        return 1;
    }
    ExpectGet(h, "Fixture", "session", "{\"clientName\":\"c-host\",\"maxPayloadSizeBytes\":0}");

    /* MmiSet reads by length: the buffer is not NUL-terminated and has junk after the value. */
    memcpy(buffer, "\"hello\"\"junk", 12);
    CHECK(MMI_OK == Set(h, "SampleComponent", "desiredStringObject", buffer, 7));
    ExpectGet(h, "SampleComponent", "reportedStringObject", "\"hello\"");
    CHECK(MMI_OK == Set(h, "SampleComponent", "desiredIntegerObject", (MMI_JSON_STRING)"123", 3));
    ExpectGet(h, "SampleComponent", "reportedIntegerObject", "123");
    CHECK(MMI_OK == Set(h, "SampleComponent", "desiredBooleanObject", (MMI_JSON_STRING)"true", 4));
    ExpectGet(h, "SampleComponent", "reportedBooleanObject", "true");

    /* Bad arguments. */
    CHECK(EINVAL == Set(h, "SampleComponent", "desiredIntegerObject", (MMI_JSON_STRING)"123", -1));
    CHECK(EINVAL == Set(h, "SampleComponent", "desiredIntegerObject", (MMI_JSON_STRING)"123", 0));
    CHECK(EINVAL == Set(h, "SampleComponent", "desiredIntegerObject", NULL, 3));
    CHECK(EINVAL == Set(h, "SampleComponent", "desiredIntegerObject", (MMI_JSON_STRING)"{1", 2));
    CHECK(EINVAL == Set(h, NULL, "desiredIntegerObject", (MMI_JSON_STRING)"1", 1));
    CHECK(EINVAL == Set(h, "", "desiredIntegerObject", (MMI_JSON_STRING)"1", 1));
    CHECK(EINVAL == Set(h, "SampleComponent", NULL, (MMI_JSON_STRING)"1", 1));
    CHECK(EINVAL == Get(h, "SampleComponent", "reportedIntegerObject", NULL, &size));
    CHECK(EINVAL == Get(h, "SampleComponent", "reportedIntegerObject", &payload, NULL));
    ExpectGetError(h, "SampleComponent", "noSuchObject", EINVAL);
    ExpectGetError(h, "NoSuchComponent", "reportedIntegerObject", EINVAL);
    ExpectGetError(h, "Fixture", "fail", ENODATA);
    ExpectGetError((MMI_HANDLE)&bogus, "SampleComponent", "reportedIntegerObject", EINVAL);
    ExpectGetError(NULL, "SampleComponent", "reportedIntegerObject", EINVAL);
    CHECK(EINVAL == Set((MMI_HANDLE)&bogus, "Fixture", "echo", (MMI_JSON_STRING)"1", 1));

    /* A panic inside the module is an errno, and the session keeps working. */
    ExpectGetError(h, "Fixture", "panic", EFAULT);
    CHECK(EFAULT == Set(h, "Fixture", "panic", (MMI_JSON_STRING)"1", 1));
    ExpectGet(h, "SampleComponent", "reportedIntegerObject", "123");

    /* maxPayloadSizeBytes: E2BIG both ways, never truncated. */
    small = Open("small", 10);
    CHECK(NULL != small);
    CHECK(MMI_OK == Set(small, "Fixture", "bigSize", (MMI_JSON_STRING)"8", 1));
    ExpectGet(small, "Fixture", "big", "\"xxxxxxxx\"");
    CHECK(MMI_OK == Set(small, "Fixture", "bigSize", (MMI_JSON_STRING)"9", 1));
    ExpectGetError(small, "Fixture", "big", E2BIG);
    CHECK(E2BIG == Set(small, "Fixture", "echo", (MMI_JSON_STRING)"\"123456789\"", 11));
    ExpectGet(h, "Fixture", "sessions", "2");
    Close(small);
    ExpectGet(h, "Fixture", "sessions", "1");

    /* MmiFree accepts NULL; a closed handle is refused; closing twice is harmless. */
    Free(NULL);
    Close(h);
    ExpectGetError(h, "SampleComponent", "reportedIntegerObject", EINVAL);
    Close(h);
    Close(NULL);
    return 0;
}

int main(int argc, char** argv)
{
    void* lib;
    MMI_HANDLE h;
    MMI_JSON_STRING payload = NULL;
    int size = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s <module.so> [crash|hang]\n", argv[0]);
        return 2;
    }
    lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (NULL == lib) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 2;
    }
    *(void**)&GetInfo = Symbol(lib, "MmiGetInfo");
    *(void**)&Open = Symbol(lib, "MmiOpen");
    *(void**)&Close = Symbol(lib, "MmiClose");
    *(void**)&Set = Symbol(lib, "MmiSet");
    *(void**)&Get = Symbol(lib, "MmiGet");
    *(void**)&Free = Symbol(lib, "MmiFree");

    if (argc > 2) {
        h = Open("c-host", 0);
        Get(h, "Fixture", argv[2], &payload, &size);
        fprintf(stderr, "MmiGet(Fixture, %s) returned\n", argv[2]);
        return 3;
    }
    if (0 != RunChecks() || 0 != g_failures) {
        fprintf(stderr, "FAIL: %d check(s) failed\n", g_failures);
        return 1;
    }
    if (0 != dlclose(lib)) {
        fprintf(stderr, "dlclose: %s\n", dlerror());
        return 1;
    }
    printf("PASS\n");
    return 0;
}
