// Uploading a file into the caller's material library (POST /api/v1/materials): the raw
// bytes, X-File-Name percent-encoded, X-CSRF-Token; XMLHttpRequest so the page can show
// progress.  upload(file, onProgress(0..100)) → the library entry; throws ApiError.
import { api, ApiError } from './api.js';

let token = null;
async function csrf(fresh) {
  if (!token || fresh) token = (await api.get('/session', { noRedirect: true })).csrf;
  return token;
}

function send(file, onProgress, tok) {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open('POST', '/api/v1/materials');
    x.setRequestHeader('X-CSRF-Token', tok);
    x.setRequestHeader('X-File-Name', encodeURIComponent(file.name || 'file'));
    x.setRequestHeader('Accept', 'application/json');
    x.upload.onprogress = (e) => e.lengthComputable && onProgress?.(Math.round((e.loaded / e.total) * 100));
    x.onload = () => {
      let body = null;
      try {
        body = JSON.parse(x.responseText);
      } catch {
        /* not JSON */
      }
      const headers = { get: (h) => x.getResponseHeader(h) };
      if (x.status >= 200 && x.status < 300) resolve(body);
      else reject(new ApiError(x.status, body, headers));
    };
    x.onerror = () => reject(new ApiError(0, { error: { code: 'network', message: 'network error' } }));
    x.send(file);
  });
}

export async function upload(file, onProgress) {
  try {
    return await send(file, onProgress, await csrf());
  } catch (e) {
    if (e.code === 'csrf') return send(file, onProgress, await csrf(true));
    throw e;
  }
}

export const sizeText = (n) => (n >= 1048576 ? `${(n / 1048576).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1024))} KB`);
