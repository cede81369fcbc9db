import { createApp } from 'vue';
import './styles.css';
import 'element-plus/es/components/message/style/css';
import App from './App.vue';
import { router } from './router.js';

createApp(App).use(router).mount('#app');
