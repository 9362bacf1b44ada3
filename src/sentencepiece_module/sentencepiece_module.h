/* The C interface of arrakis_sentencepiece, a module that wraps Debian's libsentencepiece.
 *
 * Why a module: libsentencepiece carries (and exports) its own copy of protobuf-lite, while LibTorch loads the
 * system's libprotobuf. Linked into one program, the two copies' symbols interpose on each other and the program
 * crashes while starting. Arrakis therefore loads this module with dlopen(RTLD_LOCAL | RTLD_DEEPBIND), which keeps
 * sentencepiece's protobuf private to it, and talks to it only through these C functions. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct arrakis_spm arrakis_spm;

/* A processor for the model file at `path`; NULL with a message in error[0..error_size) when it does not load. */
arrakis_spm* arrakis_spm_load(const char* path, char* error, size_t error_size);
void arrakis_spm_free(arrakis_spm* spm);

/* Encodes UTF-8 text. Writes up to `capacity` ids and returns how many there are (call again with a larger buffer
 * when that exceeds `capacity`); -1 with a message in `error` on failure. */
int64_t arrakis_spm_encode(const arrakis_spm* spm, const char* text, size_t length, int32_t* ids, size_t capacity,
                           char* error, size_t error_size);
/* Decodes ids to UTF-8 text. Writes up to `capacity` bytes and returns the text's length (call again with a larger
 * buffer when that exceeds `capacity`); -1 with a message in `error` on failure. */
int64_t arrakis_spm_decode(const arrakis_spm* spm, const int32_t* ids, size_t count, char* text, size_t capacity,
                           char* error, size_t error_size);

/* Decodes ids and gives each id's surface (its text within the decoded whole: SentencePiece's rule for the dummy
 * prefix space, bytes joined into characters): the surfaces are concatenated in `text` (up to `capacity` bytes) and
 * surface i spans [offsets[i], offsets[i + 1]) (`offsets` holds count + 1 entries). Returns the total length (call
 * again with a larger buffer when that exceeds `capacity`); -1 with a message in `error` on failure. */
int64_t arrakis_spm_decode_surfaces(const arrakis_spm* spm, const int32_t* ids, size_t count, char* text,
                                    size_t capacity, int64_t* offsets, char* error, size_t error_size);

int32_t arrakis_spm_piece_size(const arrakis_spm* spm);
/* The piece of an id (valid while the processor lives); its length in *length. */
const char* arrakis_spm_id_to_piece(const arrakis_spm* spm, int32_t id, size_t* length);
/* The id of a piece (the unknown id when the vocabulary lacks it). */
int32_t arrakis_spm_piece_to_id(const arrakis_spm* spm, const char* piece, size_t length);
/* Special ids (-1 when the model has none). */
int32_t arrakis_spm_bos_id(const arrakis_spm* spm);
int32_t arrakis_spm_eos_id(const arrakis_spm* spm);
int32_t arrakis_spm_unk_id(const arrakis_spm* spm);
int32_t arrakis_spm_pad_id(const arrakis_spm* spm);
int arrakis_spm_is_control(const arrakis_spm* spm, int32_t id);
int arrakis_spm_is_unknown(const arrakis_spm* spm, int32_t id);
int arrakis_spm_is_byte(const arrakis_spm* spm, int32_t id);

#ifdef __cplusplus
}
#endif
