import { GatehouseProvider } from '@gatehouse/react';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.tsx';
import { gatehouse } from './gatehouse.ts';
import './styles.css';

const container = document.getElementById('root');
if (!container) throw new Error('index.html has no #root element');

createRoot(container).render(
  <StrictMode>
    <GatehouseProvider client={gatehouse}>
      <App />
    </GatehouseProvider>
  </StrictMode>,
);
