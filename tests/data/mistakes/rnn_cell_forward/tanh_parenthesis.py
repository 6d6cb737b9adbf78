# expect:
a_next = np.tanh(np.dot(Waa, a_prev)) + np.dot(Wax, xt) + ba
yt_pred = softmax(np.dot(Wya, a_next) + by)
