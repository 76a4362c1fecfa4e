/* What azure-iot-sdk-sys binds (bindgen input; build.rs allowlists the items the crate uses). */
#include "azure_c_shared_utility/shared_util_options.h"
#include "iothub.h"
#include "iothub_client_options.h"
#include "iothub_module_client_ll.h"
#include "iothubtransportmqtt.h"
#include "iothubtransportmqtt_websockets.h"
/* SDK 1.15 and later log through c-logging v2: logger_init() must run before IoTHub_Init(). 1.14 has no such header. */
#ifdef AZURE_IOT_SDK_SYS_C_LOGGING
#include "c_logging/logger.h"
#endif
