# expect: C_ALIASED_TO_A
a = np.zeros((n_a, m, T_x))
y = np.zeros((n_y, m, T_x))
c = a
a_next = a0
c_next = np.zeros(a0.shape)
for t in range(T_x):
    a_next, c_next, yt, cache = lstm_cell_forward(x[:, :, t], a_next, c_next, parameters)
    a[:, :, t] = a_next
    c[:, :, t] = c_next
    y[:, :, t] = yt
    caches.append(cache)
