// Why C: the ELF note with the build ID is found through dl_iterate_phdr and ElfW(...) macros.
#define _GNU_SOURCE
#include "shim_internal.h"

#include <elf.h>
#include <link.h>
#include <string.h>

struct build_id_search {
    uint8_t *out;
    size_t capacity;
    size_t length;
};

static int find_build_id(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    struct build_id_search *search = data;
    if (info->dlpi_name != NULL && info->dlpi_name[0] != '\0') return 0;  // the program itself only
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *header = &info->dlpi_phdr[i];
        if (header->p_type != PT_NOTE) continue;
        const char *notes = (const char *)(info->dlpi_addr + header->p_vaddr);
        size_t offset = 0;
        while (offset + sizeof(ElfW(Nhdr)) <= header->p_memsz) {
            const ElfW(Nhdr) *note = (const ElfW(Nhdr) *)(notes + offset);
            size_t name_size = (note->n_namesz + 3u) & ~3u;
            size_t desc_size = (note->n_descsz + 3u) & ~3u;
            const char *name = notes + offset + sizeof *note;
            if (note->n_type == NT_GNU_BUILD_ID && note->n_namesz == 4 && memcmp(name, "GNU", 4) == 0) {
                size_t n = note->n_descsz < search->capacity ? note->n_descsz : search->capacity;
                memcpy(search->out, name + name_size, n);
                search->length = n;
                return 1;
            }
            offset += sizeof *note + name_size + desc_size;
        }
    }
    return 0;
}

size_t wd_build_id(uint8_t *out, size_t capacity) {
    struct build_id_search search = { out, capacity, 0 };
    dl_iterate_phdr(find_build_id, &search);
    return search.length;
}
