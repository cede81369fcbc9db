// The unread count of the inbox (站内信), shared by the header badge and the Inbox page.
import { reactive } from 'vue';
import { api } from './api.js';

export const inbox = reactive({ unread: 0 });

export async function refreshUnread() {
  try {
    const r = await api.get('/inbox', { query: { unread: 1, limit: 1 }, noRedirect: true });
    inbox.unread = r.unread ?? 0;
  } catch {
    /* the badge is a hint; the inbox page shows errors */
  }
  return inbox.unread;
}
