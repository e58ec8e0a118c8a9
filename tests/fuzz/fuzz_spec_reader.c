/* fuzz_spec_reader.c - libFuzzer target for io/yaml_reader.c: every input
 * must either give a tree or fail with a message, with no crash, leak or
 * undefined behaviour, and quickly (the depth and alias limits). When a
 * tree comes back it is also written as JSON, which must read back.
 * Built and run by tests/fuzz/run_fuzz.sh (clang -fsanitize=fuzzer,address). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/json_writer.h"
#include "io/spec_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rnnc_cfg *c = NULL;
    rnnc_status s = rnnc_spec_read_string((const char *)data, size, "fuzz.yaml", &c);
    if (s != RNNC_OK) {
        /* A failure returns no tree and says where. */
        if (c != NULL || strncmp(rnnc_last_error(), "fuzz.yaml", 9) != 0)
            abort();
        return 0;
    }
    char *text = NULL;
    if (rnnc_json_write(c, -1, &text) == RNNC_OK) {
        rnnc_cfg *back = NULL;
        /* What the writer emits must be readable again. */
        if (rnnc_spec_read_string(text, strlen(text), "written.json", &back) != RNNC_OK)
            abort();
        rnnc_cfg_destroy(back);
        free(text);
    }
    rnnc_cfg_destroy(c);
    return 0;
}
