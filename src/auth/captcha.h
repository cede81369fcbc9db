/*
 * captcha — image captchas drawn by the server.
 *
 * captcha_png draws text as a PNG (grey-scale, distorted glyphs over noise lines and
 * dots), written with zlib; captcha_text picks the characters.  The answer never leaves
 * the server: the API stores its hash with an expiry and deletes it at first use
 * (captcha.c); only test mode reveals it.
 */
#ifndef EHALL_CAPTCHA_H
#define EHALL_CAPTCHA_H

#include <stddef.h>

/* Unambiguous characters only: digits 2-9 and capitals without I, O. */
#define CAPTCHA_ALPHABET "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
#define CAPTCHA_LEN      5

/* n (4..8) random characters of CAPTCHA_ALPHABET into out (n + 1 bytes). */
int captcha_text(char *out, int n);
/* The PNG image of text (4..8 characters of CAPTCHA_ALPHABET): *png is malloc'd. */
int captcha_png(const char *text, unsigned char **png, size_t *len);

#endif
