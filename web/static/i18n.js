// Messages in pt-BR (default) and English; the choice is kept in
// localStorage. Missing English keys fall back to pt-BR, then to the key.

const LANG_KEY = 'ordem.lang';

const pt = {
  'app.title': 'Ordem', 'app.skip': 'Pular para o conteúdo',
  'nav.home': 'Painel', 'nav.orders': 'Pedidos', 'nav.jobs': 'Trabalhos', 'nav.new': 'Novo pedido', 'nav.wallet': 'Carteira',
  'nav.earnings': 'Ganhos e saques', 'nav.disputes': 'Disputas', 'nav.config': 'Configuração', 'nav.users': 'Usuários',
  'nav.deposits': 'Depósitos', 'nav.payouts': 'Saques', 'nav.logout': 'Sair', 'nav.language': 'Idioma',
  'auth.login': 'Entrar', 'auth.signup': 'Criar conta', 'auth.email': 'E-mail', 'auth.password': 'Senha',
  'auth.name': 'Nome', 'auth.phone': 'Telefone', 'auth.role': 'Eu sou', 'auth.noAccount': 'Não tem conta?',
  'auth.haveAccount': 'Já tem conta?', 'role.client': 'Cliente', 'role.provider': 'Prestador', 'role.admin': 'Administrador',
  'role.system': 'Sistema',
  'common.loading': 'Carregando…', 'common.save': 'Salvar', 'common.cancel': 'Voltar', 'common.send': 'Enviar',
  'common.reason': 'Motivo', 'common.none': 'Nada por aqui.', 'common.more': 'Carregar mais', 'common.id': 'Nº',
  'common.status': 'Situação', 'common.amount': 'Valor', 'common.date': 'Data', 'common.title': 'Título',
  'common.actions': 'Ações', 'common.all': 'Todos', 'common.user': 'Usuário', 'common.done': 'Feito.',
  'common.open': 'Abrir', 'common.yes': 'Sim', 'common.no': 'Não', 'common.role': 'Papel',
  'evidence.fileName': 'Arquivo', 'evidence.type': 'Tipo', 'evidence.size': 'Tamanho', 'dash.sla': 'Lembrete de SLA',
  'dash.slaIn': 'lembrete em {t}', 'kpi.cases': '{n} pedidos respondidos', 'dash.payoutCount': '{n} saques',
  'status.negotiating': 'Em negociação', 'status.in_progress': 'Em andamento', 'status.delivered': 'Entregue',
  'status.completed': 'Concluído', 'status.disputed': 'Em disputa', 'status.resolved': 'Resolvido',
  'status.cancelled': 'Cancelado', 'status.expired': 'Expirado',
  'wallet.available': 'Disponível', 'wallet.blocked': 'Bloqueado', 'wallet.statement': 'Extrato',
  'wallet.account': 'Conta', 'wallet.kind': 'Movimento', 'wallet.balanceAfter': 'Saldo após',
  'kind.deposit': 'Depósito', 'kind.hold': 'Valor retido', 'kind.release': 'Liberação', 'kind.auto_release': 'Liberação automática',
  'kind.cancel': 'Cancelamento', 'kind.contest_fee_hold': 'Taxa de contestação retida', 'kind.resolve': 'Decisão da disputa',
  'kind.payout_request': 'Pedido de saque', 'kind.payout_paid': 'Saque pago', 'kind.payout_failed': 'Saque devolvido',
  'payout.request': 'Pedir saque', 'payout.list': 'Meus saques', 'payout.pending': 'Pendente', 'payout.paid': 'Pago',
  'payout.failed': 'Falhou', 'payout.gatewayRef': 'Comprovante (ex.: id PIX)', 'payout.markPaid': 'Marcar como pago',
  'payout.markFailed': 'Marcar como falho', 'payout.requested': 'Saque pedido.',
  'dash.awaiting': 'Aguardando você', 'dash.byStatus': 'Pedidos por situação', 'dash.jobsByStatus': 'Trabalhos por situação',
  'dash.earnings': 'Ganhos liberados', 'dash.pendingPayouts': 'Saques pendentes', 'dash.kpis': 'Indicadores',
  'dash.disputeQueue': 'Fila de disputas', 'dash.until': 'até',
  'kpi.auto_confirmation_rate': 'Taxa de confirmação automática', 'kpi.contest_rate': 'Taxa de contestação',
  'kpi.cancellation_rate': 'Taxa de cancelamento', 'kpi.mean_client_response': 'Tempo médio de resposta do cliente',
  'kpi.volume': 'Volume', 'kpi.platform_revenue': 'Receita da plataforma', 'kpi.of': 'de',
  'order.new': 'Novo pedido', 'order.provider': 'Prestador (nº)', 'order.client': 'Cliente (nº)', 'order.description': 'Descrição',
  'order.dueDate': 'Prazo de entrega (opcional)', 'order.create': 'Criar pedido', 'order.created': 'Pedido criado.',
  'order.terms': 'Condições', 'order.platformFee': 'Taxa da plataforma', 'order.contestFee': 'Taxa de contestação',
  'order.cancelFee': 'Multa de cancelamento', 'order.timeline': 'Histórico', 'order.proposals': 'Propostas',
  'order.evidence': 'Evidências', 'order.workflow': 'Ver workflow no Temporal',
  'order.proposalExpires': 'proposta expira em {t}', 'order.autoConfirm': 'confirma automaticamente em {t}',
  'order.autoConfirmHeld': 'prazo vencido: aguardando um administrador', 'order.due': 'entrega prevista em {t}',
  'order.deadlinePassed': 'prazo encerrado', 'order.outcome': 'Resultado', 'order.providerNet': 'Ao prestador',
  'order.refund': 'Reembolso', 'order.penalty': 'Multa', 'order.revenue': 'À plataforma',
  'order.contestReason': 'Motivo da contestação', 'order.noActions': 'Nenhuma ação disponível para você agora.',
  'action.propose': 'Fazer contraproposta', 'action.accept': 'Aceitar proposta', 'action.deliver': 'Marcar como entregue',
  'action.confirm': 'Confirmar recebimento', 'action.contest': 'Contestar', 'action.cancel': 'Cancelar pedido',
  'action.add_evidence': 'Enviar evidência', 'action.resolve': 'Decidir disputa', 'action.extend_deadline': 'Estender prazo',
  'propose.amount': 'Valor proposto', 'propose.note': 'Mensagem', 'propose.send': 'Enviar proposta',
  'accept.hold': 'Ao aceitar, {amount} ficam bloqueados na sua carteira até a confirmação.',
  'accept.provider': 'Ao aceitar, o cliente tem {amount} bloqueados e o trabalho começa.',
  'contest.hint': 'Contestar retém a taxa de contestação de {fee}, devolvida se a disputa lhe der reembolso.',
  'contest.send': 'Contestar pedido',
  'cancel.penalty': 'Cancelar agora custa {penalty} de multa.', 'cancel.free': 'Cancelar agora não tem multa.',
  'cancel.confirm': 'Confirmar cancelamento',
  'evidence.file': 'Arquivo ({ext}; até {size})', 'evidence.description': 'Descrição do arquivo',
  'evidence.upload': 'Enviar arquivo', 'evidence.progress': 'Progresso do envio', 'evidence.uploaded': 'Evidência enviada.',
  'evidence.download': 'Baixar', 'evidence.by': 'enviada por {role}', 'evidence.wrongType': 'O tipo de arquivo .{ext} não é aceito. Tipos aceitos: {list}.',
  'evidence.tooBig': 'O arquivo tem {size}; o limite é {max}.', 'evidence.none': 'Nenhuma evidência ainda.',
  'evidence.preview': 'Visualizar', 'evidence.previewOf': 'Prévia de {name}', 'evidence.hide': 'Ocultar prévia',
  'resolve.refund': 'Reembolso ao cliente', 'resolve.preview': 'Resultado da decisão',
  'resolve.toClient': 'Cliente recebe', 'resolve.toProvider': 'Prestador recebe', 'resolve.toPlatform': 'Plataforma recebe',
  'resolve.feeBack': 'inclui a taxa de contestação devolvida', 'resolve.feeKept': 'inclui a taxa de contestação retida',
  'resolve.invalid': 'Informe um reembolso entre {min} e {max}.', 'resolve.send': 'Registrar decisão',
  'extend.hours': 'Horas a mais', 'extend.send': 'Estender prazo',
  'event.create': 'Pedido criado', 'event.propose': 'Proposta', 'event.accept': 'Proposta aceita', 'event.deliver': 'Entregue',
  'event.confirm': 'Confirmado', 'event.auto_confirm': 'Confirmado automaticamente', 'event.contest': 'Contestado',
  'event.add_evidence': 'Evidência anexada', 'event.resolve': 'Disputa decidida', 'event.extend_deadline': 'Prazo estendido',
  'event.cancel': 'Cancelado', 'event.expire': 'Negociação expirada', 'event.refused': 'recusado',
  'data.amount': 'valor', 'data.previous_amount': 'antes', 'data.hold': 'retido', 'data.released': 'devolvido',
  'data.penalty': 'multa', 'data.platform_fee': 'taxa', 'data.provider_share': 'ao prestador', 'data.refund': 'reembolso',
  'data.contestation_fee': 'taxa de contestação', 'data.contest_fee_returned': 'taxa devolvida',
  'data.contest_fee_forfeited': 'taxa retida', 'data.reason': 'motivo', 'data.note': 'mensagem', 'data.file_name': 'arquivo',
  'data.hours': 'horas', 'data.confirm_deadline': 'prazo', 'data.new_deadline': 'novo prazo', 'data.message': 'mensagem',
  'config.key': 'Chave', 'config.value': 'Valor', 'config.default': 'padrão', 'config.saved': 'Configuração salva.',
  'users.delete': 'Desativar', 'users.deleted': 'desativado em {d}', 'users.confirmDelete': 'Desativar {name}? A sessão dele termina agora.',
  'deposit.new': 'Registrar depósito', 'deposit.reference': 'Referência', 'deposit.user': 'Usuário (nº)',
  'deposit.done': 'Depósito de {amount} creditado.', 'deposit.source': 'Origem',
  'err.network': 'Sem conexão com o servidor. Tente de novo.', 'err.amount': 'Informe um valor como 1.234,56.',
  'err.required': 'Preencha este campo.',
  // What each API error code means, shown before the API's own (English)
  // words; English has none of these: the API's message says it already.
  'apiErr.invalid_request': 'Requisição inválida.', 'apiErr.unauthenticated': 'Não foi possível entrar: confira o e-mail e a senha.',
  'apiErr.forbidden': 'Você não tem permissão para isso.', 'apiErr.not_found': 'Não encontrado.',
  'apiErr.insufficient_funds': 'Saldo insuficiente.',
  'apiErr.invalid_transition': 'Esta ação não é possível na situação atual do pedido.',
  'apiErr.idempotency_conflict': 'Conflito com um envio anterior; tente de novo.',
  'apiErr.too_large': 'Grande demais.', 'apiErr.validation_failed': 'Dados ou arquivo recusados.',
  'apiErr.rate_limited': 'Muitas tentativas; aguarde um pouco.', 'apiErr.internal': 'Erro no servidor; tente de novo.',
  'apiErr.precondition_failed': 'O pedido mudou desde que você o abriu; recarregue e confira.',
  'apiErr.proposal_changed': 'A proposta mudou; recarregue e confira a nova antes de aceitar.',
  'apiErr.penalty_changed': 'A multa de cancelamento mudou; recarregue e confira antes de cancelar.',
  'apiErr.unavailable': 'Serviço temporariamente indisponível; tente de novo em instantes.',
  'apiErr.detail': '{head} (detalhe: {detail})',
  'time.d': '{n} d', 'time.h': '{n} h', 'time.min': '{n} min', 'time.s': '{n} s',
};

const en = {
  'app.skip': 'Skip to content',
  'nav.home': 'Dashboard', 'nav.orders': 'Orders', 'nav.jobs': 'Jobs', 'nav.new': 'New order', 'nav.wallet': 'Wallet',
  'nav.earnings': 'Earnings and payouts', 'nav.disputes': 'Disputes', 'nav.config': 'Configuration', 'nav.users': 'Users',
  'nav.deposits': 'Deposits', 'nav.payouts': 'Payouts', 'nav.logout': 'Log out', 'nav.language': 'Language',
  'auth.login': 'Log in', 'auth.signup': 'Sign up', 'auth.email': 'E-mail', 'auth.password': 'Password',
  'auth.name': 'Name', 'auth.phone': 'Phone', 'auth.role': 'I am a', 'auth.noAccount': 'No account yet?',
  'auth.haveAccount': 'Already have an account?', 'role.client': 'Client', 'role.provider': 'Provider', 'role.admin': 'Admin',
  'role.system': 'System',
  'common.loading': 'Loading…', 'common.save': 'Save', 'common.cancel': 'Back', 'common.send': 'Send',
  'common.reason': 'Reason', 'common.none': 'Nothing here.', 'common.more': 'Load more', 'common.id': 'No.',
  'common.status': 'Status', 'common.amount': 'Amount', 'common.date': 'Date', 'common.title': 'Title',
  'common.actions': 'Actions', 'common.all': 'All', 'common.user': 'User', 'common.done': 'Done.',
  'common.open': 'Open', 'common.yes': 'Yes', 'common.no': 'No', 'common.role': 'Role',
  'evidence.fileName': 'File', 'evidence.type': 'Type', 'evidence.size': 'Size', 'dash.sla': 'SLA reminder',
  'dash.slaIn': 'reminder in {t}', 'kpi.cases': '{n} answered orders', 'dash.payoutCount': '{n} payouts',
  'status.negotiating': 'Negotiating', 'status.in_progress': 'In progress', 'status.delivered': 'Delivered',
  'status.completed': 'Completed', 'status.disputed': 'Disputed', 'status.resolved': 'Resolved',
  'status.cancelled': 'Cancelled', 'status.expired': 'Expired',
  'wallet.available': 'Available', 'wallet.blocked': 'Blocked', 'wallet.statement': 'Statement',
  'wallet.account': 'Account', 'wallet.kind': 'Movement', 'wallet.balanceAfter': 'Balance after',
  'kind.deposit': 'Deposit', 'kind.hold': 'Hold', 'kind.release': 'Release', 'kind.auto_release': 'Automatic release',
  'kind.cancel': 'Cancellation', 'kind.contest_fee_hold': 'Contestation fee held', 'kind.resolve': 'Dispute ruling',
  'kind.payout_request': 'Payout request', 'kind.payout_paid': 'Payout paid', 'kind.payout_failed': 'Payout returned',
  'payout.request': 'Request payout', 'payout.list': 'My payouts', 'payout.pending': 'Pending', 'payout.paid': 'Paid',
  'payout.failed': 'Failed', 'payout.gatewayRef': 'Proof (e.g. PIX id)', 'payout.markPaid': 'Mark paid',
  'payout.markFailed': 'Mark failed', 'payout.requested': 'Payout requested.',
  'dash.awaiting': 'Waiting for you', 'dash.byStatus': 'Orders by status', 'dash.jobsByStatus': 'Jobs by status',
  'dash.earnings': 'Earnings released', 'dash.pendingPayouts': 'Pending payouts', 'dash.kpis': 'Indicators',
  'dash.disputeQueue': 'Dispute queue', 'dash.until': 'until',
  'kpi.auto_confirmation_rate': 'Auto-confirmation rate', 'kpi.contest_rate': 'Contest rate',
  'kpi.cancellation_rate': 'Cancellation rate', 'kpi.mean_client_response': 'Mean client response time',
  'kpi.volume': 'Volume', 'kpi.platform_revenue': 'Platform revenue', 'kpi.of': 'of',
  'order.new': 'New order', 'order.provider': 'Provider (no.)', 'order.client': 'Client (no.)', 'order.description': 'Description',
  'order.dueDate': 'Due date (optional)', 'order.create': 'Create order', 'order.created': 'Order created.',
  'order.terms': 'Terms', 'order.platformFee': 'Platform fee', 'order.contestFee': 'Contestation fee',
  'order.cancelFee': 'Cancellation penalty', 'order.timeline': 'Timeline', 'order.proposals': 'Proposals',
  'order.evidence': 'Evidence', 'order.workflow': 'Open the workflow in Temporal',
  'order.proposalExpires': 'proposal expires in {t}', 'order.autoConfirm': 'confirms automatically in {t}',
  'order.autoConfirmHeld': 'deadline passed: waiting for an admin', 'order.due': 'due in {t}',
  'order.deadlinePassed': 'deadline passed', 'order.outcome': 'Outcome', 'order.providerNet': 'To the provider',
  'order.refund': 'Refund', 'order.penalty': 'Penalty', 'order.revenue': 'To the platform',
  'order.contestReason': 'Contest reason', 'order.noActions': 'Nothing for you to do now.',
  'action.propose': 'Counter-propose', 'action.accept': 'Accept proposal', 'action.deliver': 'Mark delivered',
  'action.confirm': 'Confirm receipt', 'action.contest': 'Contest', 'action.cancel': 'Cancel order',
  'action.add_evidence': 'Upload evidence', 'action.resolve': 'Rule on the dispute', 'action.extend_deadline': 'Extend deadline',
  'propose.amount': 'Proposed amount', 'propose.note': 'Message', 'propose.send': 'Send proposal',
  'accept.hold': 'Accepting blocks {amount} in your wallet until you confirm.',
  'accept.provider': 'Accepting blocks {amount} from the client and the work starts.',
  'contest.hint': 'Contesting holds the contestation fee of {fee}, returned if the ruling refunds you.',
  'contest.send': 'Contest order',
  'cancel.penalty': 'Cancelling now costs a {penalty} penalty.', 'cancel.free': 'Cancelling now costs no penalty.',
  'cancel.confirm': 'Confirm cancellation',
  'evidence.file': 'File ({ext}; up to {size})', 'evidence.description': 'File description',
  'evidence.upload': 'Upload file', 'evidence.progress': 'Upload progress', 'evidence.uploaded': 'Evidence uploaded.',
  'evidence.download': 'Download', 'evidence.by': 'uploaded by {role}', 'evidence.wrongType': 'Files of type .{ext} are not accepted. Accepted: {list}.',
  'evidence.tooBig': 'The file is {size}; the limit is {max}.', 'evidence.none': 'No evidence yet.',
  'evidence.preview': 'Preview', 'evidence.previewOf': 'Preview of {name}', 'evidence.hide': 'Hide preview',
  'resolve.refund': 'Refund to the client', 'resolve.preview': 'Resulting split',
  'resolve.toClient': 'Client gets', 'resolve.toProvider': 'Provider gets', 'resolve.toPlatform': 'Platform gets',
  'resolve.feeBack': 'includes the returned contestation fee', 'resolve.feeKept': 'includes the forfeited contestation fee',
  'resolve.invalid': 'Enter a refund between {min} and {max}.', 'resolve.send': 'Record ruling',
  'extend.hours': 'Extra hours', 'extend.send': 'Extend deadline',
  'event.create': 'Order created', 'event.propose': 'Proposal', 'event.accept': 'Proposal accepted', 'event.deliver': 'Delivered',
  'event.confirm': 'Confirmed', 'event.auto_confirm': 'Confirmed automatically', 'event.contest': 'Contested',
  'event.add_evidence': 'Evidence attached', 'event.resolve': 'Dispute ruled', 'event.extend_deadline': 'Deadline extended',
  'event.cancel': 'Cancelled', 'event.expire': 'Negotiation expired', 'event.refused': 'refused',
  'data.amount': 'amount', 'data.previous_amount': 'before', 'data.hold': 'held', 'data.released': 'returned',
  'data.penalty': 'penalty', 'data.platform_fee': 'fee', 'data.provider_share': 'to provider', 'data.refund': 'refund',
  'data.contestation_fee': 'contestation fee', 'data.contest_fee_returned': 'fee returned',
  'data.contest_fee_forfeited': 'fee forfeited', 'data.reason': 'reason', 'data.note': 'message', 'data.file_name': 'file',
  'data.hours': 'hours', 'data.confirm_deadline': 'deadline', 'data.new_deadline': 'new deadline', 'data.message': 'message',
  'config.key': 'Key', 'config.value': 'Value', 'config.default': 'default', 'config.saved': 'Configuration saved.',
  'users.delete': 'Deactivate', 'users.deleted': 'deactivated on {d}', 'users.confirmDelete': 'Deactivate {name}? Their session ends now.',
  'deposit.new': 'Record a deposit', 'deposit.reference': 'Reference', 'deposit.user': 'User (no.)',
  'deposit.done': 'Deposit of {amount} credited.', 'deposit.source': 'Source',
  'err.network': 'Cannot reach the server. Try again.', 'err.amount': 'Enter an amount such as 1,234.56.',
  'err.required': 'Fill in this field.',
  'time.d': '{n} d', 'time.h': '{n} h', 'time.min': '{n} min', 'time.s': '{n} s',
};

const dicts = { 'pt-BR': pt, en };
export const languages = [['pt-BR', 'Português (Brasil)'], ['en', 'English']];

let lang = (() => {
  try { const l = localStorage.getItem(LANG_KEY); if (l && dicts[l]) return l; } catch { /* storage off */ }
  return 'pt-BR';
})();

export function getLang() { return lang; }
export function setLang(l) {
  if (!dicts[l]) return;
  lang = l;
  try { localStorage.setItem(LANG_KEY, l); } catch { /* storage off */ }
  document.documentElement.lang = l;
}

// t translates key, filling {name} placeholders from vars.
export function t(key, vars) {
  let s = dicts[lang][key] ?? pt[key] ?? key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
  return s;
}

// has reports whether key has a message (for optional labels).
export function has(key) { return key in pt; }

// hasOwn reports whether the current language itself translates key
// (without the fallback to pt-BR).
export function hasOwn(key) { return key in dicts[lang]; }
