/*
 * licence/pdf — the electronic licence as a PDF document (libharu + libqrencode).
 *
 * One A4 page (more if the fields do not fit): the template's title, the licence id,
 * the fields as label / value rows in CJK text, a QR code and a drawn seal (red ring,
 * the issuer's name along the arc, a star, 电子证照专用章).  The text uses a TrueType
 * CJK font embedded in the file: $EHALL_LICENCE_FONT if set (a .ttf, or a .ttc whose
 * first face is used), else WenQuanYi Zen Hei (Debian fonts-wqy-zenhei).  The seal shows
 * licence.issuer_name, else licence.issuer; the footer the seal's alg and key_id.
 *
 * The QR code carries verify_url with the licence id in it: verify_url itself when it
 * already contains the id, otherwise verify_url + ("?" or "&") + "id=" + the id,
 * percent-encoded (bytes outside A-Z a-z 0-9 - . _ ~ as %XX).
 *
 * The signed JSON travels as a standard PDF embedded file (attachment) named
 * "licence.json": a /Type /EmbeddedFile stream (FlateDecode, /Subtype application/json,
 * /Params << /Size n /CheckSum <MD5> >>) reached from the catalog's /Names
 * /EmbeddedFiles tree.  Any PDF tool lists and saves it (`pdfdetach -list`, `qpdf
 * --list-attachments`).  licence_pdf_extract reads it back byte for byte: it follows
 * startxref to the classic xref table that libharu writes, finds the one object whose
 * dictionary is /Type /EmbeddedFile, inflates it and checks size and MD5.  Files
 * rewritten with cross-reference streams (e.g. qpdf --object-streams=generate) are
 * refused with a reason, as is anything truncated or not a PDF.
 *
 * Neither function keeps global state of its own: each call builds and frees its own
 * document, so calls on different threads do not interfere.
 */
#ifndef EHALL_LICENCE_PDF_H
#define EHALL_LICENCE_PDF_H

#include <stddef.h>

/* Renders a signed licence (the whole signed document as JSON text: {"licence":{...},
 * "seal":{...}}) and the type's template (title, ordered [field, label] pairs) into a PDF:
 * fields in CJK text, a seal image, a QR code with the licence id and verify_url; the
 * signed JSON travels inside the file so it verifies offline. Returns 0 and a malloc'd
 * buffer, or -1 with a reason in err. */
int licence_pdf_render(const char *signed_json, const char *title, const char *const *field_keys,
                       const char *const *field_labels, size_t nfields, const char *verify_url,
                       unsigned char **out, size_t *outlen, char *err, size_t errlen);
/* Pulls the signed JSON back out of a PDF made by licence_pdf_render. 0, or -1 + err. */
int licence_pdf_extract(const unsigned char *pdf, size_t len, char **signed_json, char *err, size_t errlen);

#endif
